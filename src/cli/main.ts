#!/usr/bin/env node
import { Command, CommanderError, Option } from "commander";
import { DedupError } from "../errors.js";
import { packageVersion } from "./version.js";

const program = new Command("docker-dedup")
  .description("A deduplicating OCI/Docker registry: layers stored as content-defined chunks")
  .version(packageVersion(), "-V, --version", "print the version")
  .showHelpAfterError()
  .exitOverride();

const storeOption = () => new Option("--store <location>", "store directory (or URL); default $DOCKER_DEDUP_STORE or ./docker-dedup-data");

const commands: Record<string, () => Promise<void>> = {
  add: async () => (await import("./add.js")).addCommand(program.command("add"), storeOption()),
  checkout: async () => (await import("./checkout.js")).checkoutCommand(program.command("checkout"), storeOption()),
  config: async () => (await import("./config.js")).configCommand(program.command("config")),
  gc: async () => (await import("./gc.js")).gcCommand(program.command("gc"), storeOption()),
  "import-seed": async () => (await import("./import-seed.js")).importSeedCommand(program.command("import-seed"), storeOption()),
  replicate: async () => (await import("./replicate.js")).replicateCommand(program.command("replicate")),
  serve: async () => (await import("./serve.js")).serveCommand(program.command("serve")),
  sites: async () => (await import("./sites.js")).sitesCommand(program.command("sites")),
  stats: async () => (await import("./stats.js")).statsCommand(program.command("stats"), storeOption()),
  verify: async () => (await import("./verify.js")).verifyCommand(program.command("verify"), storeOption()),
};

try {
  // Only the command being run is loaded (the modules behind all of them took 0.2 s more to
  // load); help, and a name that is no command, load every one, in this order.
  const named = process.argv[2];
  for (const [name, register] of Object.entries(commands)) {
    if (named === undefined || !Object.hasOwn(commands, named) || name === named) await register();
  }
  await program.parseAsync();
} catch (error) {
  process.exitCode = reportError(error);
}

/** One clear line on stderr (a line per mistake, for settings) and an exit code; a stack trace only when DOCKER_DEDUP_DEBUG is set. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (process.env.DOCKER_DEDUP_DEBUG) console.error(error);
  const message = error instanceof DedupError ? error.message : describeSystemError(error);
  for (const line of message.split("\n")) process.stderr.write(`docker-dedup: ${line}\n`);
  return 1;
}

function describeSystemError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === "ENOENT" && e.path) return `${e.path}: no such file or directory`;
  if (e?.code === "EACCES" && e.path) return `${e.path}: permission denied`;
  if (e?.code === "EPIPE") return "output closed early";
  return e instanceof Error ? e.message : String(error);
}
