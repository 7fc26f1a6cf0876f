#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { DedupError } from "../errors.js";
import { addCommand } from "./add.js";
import { checkoutCommand } from "./checkout.js";
import { importSeedCommand } from "./import-seed.js";
import { replicateCommand } from "./replicate.js";
import { serveCommand } from "./serve.js";
import { sitesCommand } from "./sites.js";
import { statsCommand } from "./stats.js";
import { verifyCommand } from "./verify.js";

const program = new Command("docker-dedup")
  .description("A deduplicating OCI/Docker registry: layers stored as content-defined chunks")
  .showHelpAfterError()
  .exitOverride();

const storeOption = () => new Option("--store <location>", "store directory (or URL); default $DOCKER_DEDUP_STORE or ./docker-dedup-data");

addCommand(program.command("add"), storeOption());
checkoutCommand(program.command("checkout"), storeOption());
importSeedCommand(program.command("import-seed"), storeOption());
replicateCommand(program.command("replicate"));
serveCommand(program.command("serve"), storeOption());
sitesCommand(program.command("sites"));
statsCommand(program.command("stats"), storeOption());
verifyCommand(program.command("verify"), storeOption());

try {
  await program.parseAsync();
} catch (error) {
  process.exitCode = reportError(error);
}

/** One clear line on stderr and an exit code; a stack trace only when DOCKER_DEDUP_DEBUG is set. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (process.env.DOCKER_DEDUP_DEBUG) console.error(error);
  const message = error instanceof DedupError ? error.message : describeSystemError(error);
  process.stderr.write(`docker-dedup: ${message}\n`);
  return 1;
}

function describeSystemError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === "ENOENT" && e.path) return `${e.path}: no such file or directory`;
  if (e?.code === "EACCES" && e.path) return `${e.path}: permission denied`;
  if (e?.code === "EPIPE") return "output closed early";
  return e instanceof Error ? e.message : String(error);
}
