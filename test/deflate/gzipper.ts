import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers.js";

/** The real encoders of scripts/gzip-vectors/main.go: golden vectors made on the spot. */
export type RealEncoder = { encoder: "stdlib"; level: number } | { encoder: "kflate"; level: number } | { encoder: "pgzip"; level: number; block: number };

let built: Promise<string> | undefined;

/** The gzipper binary (built once per source version and cached; see scripts/gzip-vectors/build.sh). */
export function gzipperPath(): Promise<string> {
  built ??= promisify(execFile)(join(REPO_ROOT, "scripts/gzip-vectors/build.sh"), { maxBuffer: 1 << 20 }).then(({ stdout }) => stdout.trim());
  return built;
}

/** `input` gzipped by a real encoder, as it would have made a layer. */
export async function gzipWith(real: RealEncoder, input: Uint8Array): Promise<Buffer> {
  const bin = await gzipperPath();
  const args = ["-encoder", real.encoder, "-level", String(real.level)];
  if (real.encoder === "pgzip") args.push("-block", String(real.block));
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`gzipper ${args.join(" ")}: exit ${code}: ${Buffer.concat(err).toString()}`))));
    child.stdin.end(input);
  });
}
