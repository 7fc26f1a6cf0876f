import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = join(REPO_ROOT, "dist/src/cli/main.js");

/** A temporary directory removed when the test ends. */
export async function tempDir(t: { after(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "docker-dedup-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function randomBytes(length: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Text-like bytes: 3 bits of entropy a byte, so that zstd has work to do and chunks differ. */
export function wordyBytes(length: number, seed: number): Buffer {
  const bytes = randomBytes(length, seed);
  for (let i = 0; i < length; i++) bytes[i] = 97 + (bytes[i]! & 7);
  return bytes;
}

/** Splits a buffer into pieces of pseudo-random sizes between 1 and `max` bytes. */
export function randomPieces(data: Uint8Array, max: number, seed = 7): Uint8Array[] {
  const sizes = randomBytes(Math.ceil(data.length / 1) + 16, seed);
  const pieces: Uint8Array[] = [];
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const size = 1 + ((sizes.readUInt32LE((i++ * 4) % (sizes.length - 4)) >>> 0) % max);
    pieces.push(data.subarray(at, Math.min(data.length, at + size)));
    at += size;
  }
  return pieces;
}

export async function* fromPieces(pieces: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece;
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; never rejects on a non-zero exit. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 1 << 30,
      encoding: "buffer",
    });
    return { code: 0, stdout: stdout.toString("latin1"), stderr: stderr.toString() };
  } catch (error) {
    const e = error as { code?: number; stdout?: Buffer; stderr?: Buffer };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout?.toString("latin1") ?? "", stderr: e.stderr?.toString() ?? "" };
  }
}

/** Runs a command to completion, failing with its stderr if it exits non-zero. */
export async function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err}`))));
  });
}

/** Retries `check` until it passes or `timeoutMs` runs out (e.g. while a client reconnects). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
