import { spawn } from "node:child_process";

/**
 * Golden vectors from real zlib, made on the spot by CPython, whose zlib module links the system libz
 * (Debian 12: zlib 1.2.13). `lib` runs it with LD_LIBRARY_PATH=lib, to use another libz.so.1 (e.g. an
 * upstream build of another version); zlibRuntimeVersion(lib) tells which one was loaded.
 */
export type ZlibJob =
  /** zlib.compressobj(level, DEFLATED, -15, memLevel): raw deflate, the whole input at once. */
  | { kind: "raw"; level: number; memLevel?: number }
  /** gzip.compress(input, mtime=0), at compresslevel `level` or, when absent, its default (9). */
  | { kind: "gzip"; level?: number }
  /** gzip.GzipFile(mode="wb", compresslevel=level, mtime=0) written `piece` bytes at a time (as tarfile does). */
  | { kind: "gzipfile"; level: number; piece: number };

const SCRIPT = `
import gzip, io, json, struct, sys, zlib
jobs = json.loads(sys.argv[1])
data = sys.stdin.buffer.read()
out = sys.stdout.buffer
for job in jobs:
    if job["kind"] == "raw":
        c = zlib.compressobj(job["level"], zlib.DEFLATED, -15, job.get("memLevel", 8))
        b = c.compress(data) + c.flush()
    elif job["kind"] == "gzip":
        b = gzip.compress(data, mtime=0) if job.get("level") is None else gzip.compress(data, compresslevel=job["level"], mtime=0)
    elif job["kind"] == "gzipfile":
        f = io.BytesIO()
        with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=job["level"], mtime=0) as g:
            for at in range(0, len(data), job["piece"]):
                g.write(data[at:at + job["piece"]])
        b = f.getvalue()
    else:
        raise SystemExit("unknown job " + json.dumps(job))
    out.write(struct.pack("<Q", len(b)))
    out.write(b)
out.flush()
`;

function python(args: string[], input: Uint8Array, lib?: string): Promise<Buffer> {
  const env = lib === undefined ? process.env : { ...process.env, LD_LIBRARY_PATH: lib };
  return new Promise((resolve, reject) => {
    const child = spawn("python3", args, { stdio: ["pipe", "pipe", "pipe"], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.stdin.on("error", () => {}); // an early exit is reported by "close" with its stderr
    child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`python3 (zlib vectors): exit ${code}: ${Buffer.concat(err).toString()}`))));
    child.stdin.end(input);
  });
}

/** `input` compressed by real zlib, once for each job (one python3 process for all of them). */
export async function zlibVectors(jobs: readonly ZlibJob[], input: Uint8Array, lib?: string): Promise<Buffer[]> {
  const all = await python(["-c", SCRIPT, JSON.stringify(jobs)], input, lib);
  const outs: Buffer[] = [];
  let at = 0;
  while (at < all.length) {
    const n = Number(all.readBigUInt64LE(at));
    outs.push(all.subarray(at + 8, at + 8 + n));
    at += 8 + n;
  }
  if (outs.length !== jobs.length || at !== all.length) throw new Error(`zlib vectors: ${outs.length} outputs for ${jobs.length} jobs`);
  return outs;
}

/** Real zlib's raw deflate of `input` at each of `levels`. */
export async function zlibRaw(levels: readonly number[], input: Uint8Array, opts: { memLevel?: number; lib?: string } = {}): Promise<Buffer[]> {
  return zlibVectors(
    levels.map((level) => ({ kind: "raw", level, ...(opts.memLevel === undefined ? {} : { memLevel: opts.memLevel }) })),
    input,
    opts.lib,
  );
}

/** zlib.ZLIB_RUNTIME_VERSION: the zlib that python3 loads (with LD_LIBRARY_PATH=lib if given). */
export async function zlibRuntimeVersion(lib?: string): Promise<string> {
  const out = await python(["-c", "import zlib; print(zlib.ZLIB_RUNTIME_VERSION)"], new Uint8Array(0), lib);
  return out.toString().trim();
}
