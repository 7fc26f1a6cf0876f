// Speed of the Go compress/flate port (src/deflate/go-flate) against Go's own encoder (the
// gzipper of scripts/gzip-vectors, Go 1.26), on the same input and machine, per core; and the
// re-creation of one stream in parallel from checkpoints.
//
//   node dist/bench/deflate-go.js [input-file] [levels, default 1,6,9] [workers, default 2]
//
// Without an input file it tars /usr/share/doc and /usr/bin (cut to 50 MB) into a temp file.

import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { decodeCheckpoint, encodeCheckpoint, encodeSegment, GoFlateEncoder, type GoFlateCheckpoint } from "../src/deflate/go-flate/index.js";
import { gzipperPath } from "../test/deflate/gzipper.js";

interface SegmentJob {
  level: number;
  input: Uint8Array; // the segment's input with its 32 KiB before and 64 KiB after
  inputBase: number;
  from: Uint8Array | null; // encoded checkpoints
  to: Uint8Array | null;
}

function runSegment(job: SegmentJob): Buffer {
  const parts: Buffer[] = [];
  encodeSegment(job.level, job.input, job.inputBase, job.from && decodeCheckpoint(job.from), job.to && decodeCheckpoint(job.to), (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}

if (!isMainThread) {
  parentPort!.on("message", (job: SegmentJob) => {
    const out = runSegment(job);
    parentPort!.postMessage(out, [out.buffer as ArrayBuffer]);
  });
} else {
  await main();
}

function mbps(bytes: number, seconds: number): string {
  return `${(bytes / 1e6 / seconds).toFixed(1)} MB/s`;
}

function ours(level: number, input: Uint8Array, every = 0): { seconds: number; cpu: number; sha: string; size: number; checkpoints: GoFlateCheckpoint[] } {
  const h = createHash("sha256");
  let size = 0;
  const checkpoints: GoFlateCheckpoint[] = [];
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const enc = new GoFlateEncoder(level, (b) => {
    h.update(b);
    size += b.length;
  }, every > 0 ? { checkpointEvery: every, onCheckpoint: (cp) => checkpoints.push(cp) } : {});
  for (let at = 0; at < input.length; at += 1 << 20) enc.write(input.subarray(at, Math.min(input.length, at + (1 << 20))));
  enc.close();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { seconds, cpu: (c.user + c.system) / 1e6, sha: h.digest("hex"), size, checkpoints };
}

/** Go's gzipper on the file; CPU time (user + system) from /usr/bin/time when there is one. */
async function go(level: number, file: string): Promise<{ seconds: number; cpu: number; sha: string; size: number }> {
  const bin = await gzipperPath();
  const dir = mkdtempSync(join(tmpdir(), "deflate-go-time-"));
  const timeFile = join(dir, "time");
  const timed = existsSync("/usr/bin/time");
  const t0 = performance.now();
  const gz = timed
    ? execFileSync("/usr/bin/time", ["-o", timeFile, "-f", "%U %S", bin, "-encoder", "stdlib", "-level", String(level)], { input: readFileSync(file), maxBuffer: 1 << 30 })
    : execFileSync(bin, ["-encoder", "stdlib", "-level", String(level)], { input: readFileSync(file), maxBuffer: 1 << 30 });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = timed ? readFileSync(timeFile, "utf8").trim().split(/\s+/).map(Number).reduce((a, b) => a + b, 0) : seconds;
  rmSync(dir, { recursive: true, force: true });
  const body = gz.subarray(10, gz.length - 8);
  return { seconds, cpu, sha: createHash("sha256").update(body).digest("hex"), size: body.length };
}

async function parallel(level: number, input: Uint8Array, checkpoints: GoFlateCheckpoint[], workers: number): Promise<{ seconds: number; sha: string }> {
  const pool = Array.from({ length: workers }, () => new Worker(new URL(import.meta.url)));
  const jobs: SegmentJob[] = [];
  for (let k = 0; k <= checkpoints.length; k++) {
    const from = k === 0 ? null : checkpoints[k - 1]!;
    const to = k === checkpoints.length ? null : checkpoints[k]!;
    const lo = from === null ? 0 : Math.max(0, from.inputOffset - 32768);
    const hi = to === null ? input.length : Math.min(input.length, to.inputOffset + 65536);
    // A copy of its own: a Buffer's slice is a view, and posting a view clones its whole ArrayBuffer.
    jobs.push({ level, input: Uint8Array.prototype.slice.call(input, lo, hi), inputBase: lo, from: from && encodeCheckpoint(from), to: to && encodeCheckpoint(to) });
  }
  const t0 = performance.now();
  const results: Buffer[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    pool.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once("error", reject);
          const take = (): void => {
            if (next >= jobs.length) return resolve();
            const k = next++;
            w.once("message", (out: Uint8Array) => {
              results[k] = Buffer.from(out.buffer, out.byteOffset, out.length);
              take();
            });
            w.postMessage(jobs[k], [jobs[k]!.input.buffer as ArrayBuffer]);
          };
          take();
        }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(pool.map((w) => w.terminate()));
  return { seconds, sha: createHash("sha256").update(Buffer.concat(results)).digest("hex") };
}

async function main(): Promise<void> {
  let file = process.argv[2];
  const levels = (process.argv[3] ?? "1,6,9").split(",").map(Number);
  const workers = Number(process.argv[4] ?? 2);
  let temp: string | undefined;
  if (!file) {
    temp = mkdtempSync(join(tmpdir(), "deflate-go-"));
    file = join(temp, "input.tar");
    const tar = await new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      let total = 0;
      const child = spawn("tar", ["-c", "--sort=name", "-f", "-", "/usr/share/doc", "/usr/bin"], { stdio: ["ignore", "pipe", "ignore"] });
      child.stdout.on("data", (b: Buffer) => {
        if (total >= 50_000_000) return;
        parts.push(b);
        total += b.length;
        if (total >= 50_000_000) child.kill();
      });
      child.on("error", reject);
      child.on("close", () => resolve(Buffer.concat(parts).subarray(0, 50_000_000)));
    });
    writeFileSync(file, tar);
  }
  const input = readFileSync(file);
  console.log(`input: ${file}, ${input.length} bytes; node ${process.version}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  // Warm up the JIT on a few MB at every level measured.
  for (const level of levels) ours(level, input.subarray(0, 4 << 20));
  for (const level of levels) {
    const g = await go(level, file);
    const o = ours(level, input);
    const same = o.sha === g.sha && o.size === g.size;
    console.log(
      `level ${level}: ours ${o.seconds.toFixed(2)} s ${mbps(input.length, o.seconds)} (CPU ${o.cpu.toFixed(2)} s, ${mbps(input.length, o.cpu)}) | ` +
        `Go ${g.seconds.toFixed(2)} s ${mbps(input.length, g.seconds)} (CPU ${g.cpu.toFixed(2)} s, ${mbps(input.length, g.cpu)}) | ` +
        `ours/Go ${(g.seconds / o.seconds).toFixed(2)} wall, ${(g.cpu / o.cpu).toFixed(2)} CPU | ${o.size} bytes, ${same ? "identical" : "DIFFERENT"} | load ${loadavg()[0]!.toFixed(2)}`,
    );
    const every = 4 << 20;
    const c = ours(level, input, every);
    const p = await parallel(level, input, c.checkpoints, workers);
    console.log(
      `  with checkpoints every ${every >> 20} MiB: ${c.checkpoints.length} checkpoints, ${c.seconds.toFixed(2)} s sequential; ` +
        `${c.checkpoints.length + 1} segments on ${workers} workers: ${p.seconds.toFixed(2)} s ${mbps(input.length, p.seconds)}, ${p.sha === g.sha ? "identical" : "DIFFERENT"}; ` +
        `checkpoint sizes ${Math.min(...c.checkpoints.map((x) => encodeCheckpoint(x).length))}-${Math.max(...c.checkpoints.map((x) => encodeCheckpoint(x).length))} bytes`,
    );
  }
  if (temp) rmSync(temp, { recursive: true, force: true });
}
