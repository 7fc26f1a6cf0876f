// Speed of the zlib encoder (src/deflate/zlib: pako 3.0.3 with zlib's hash) against real zlib (C, through
// CPython's zlib module, which links the system libz) on the same input, one core each. Python's times
// are taken inside the process around compressobj().compress() + flush() (no start-up, no reading).
// Also: our encoder fed in pieces of 16 KiB .. 4 MiB against one write of the whole input.
//
//   node dist/bench/deflate-zlib.js [input-file] [--levels=1,6,9] [--runs=3] [--pieces=1,6]
//
// Without an input file, a ~50 MB tar of /etc, /usr/share/perl, /usr/lib/python3*, /usr/share/i18n and
// /usr/bin is made in a temp dir (as bench/deflate-klauspost.ts does). MB/s are of input (10^6 bytes)
// per second of wall clock and of CPU time (user + sys); the best of the runs.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ZlibEncoder } from "../src/deflate/zlib/index.js";

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const levels = flag("levels", "1,6,9").split(",").map(Number);
const pieceLevels = flag("pieces", "1,6").split(",").filter((s) => s !== "").map(Number);
const runs = Number(flag("runs", "3"));
let inputPath = args.find((a) => !a.startsWith("--"));
let tmp: string | undefined;
if (inputPath === undefined) {
  tmp = mkdtempSync(join(tmpdir(), "zlib-bench-"));
  inputPath = join(tmp, "bench.tar");
  const dirs = ["/etc", "/usr/share/perl", "/usr/lib/python3.11", "/usr/lib/python3", "/usr/share/i18n", "/usr/bin"].filter((d) => existsSync(d));
  execFileSync("sh", ["-c", `tar -cf - ${dirs.join(" ")} 2>/dev/null | head -c ${50 << 20} > ${inputPath}; true`]);
}
const input = readFileSync(inputPath);

interface Rate {
  wall: number;
  cpu: number;
  size: number;
}

const mbps = (ms: number): number => input.length / 1e6 / (ms / 1000);

function best(rates: Rate[]): Rate {
  return { wall: Math.max(...rates.map((r) => r.wall)), cpu: Math.max(...rates.map((r) => r.cpu)), size: rates[0]!.size };
}

const PY = `
import sys, time, zlib
data = open(sys.argv[1], "rb").read()
level, runs = int(sys.argv[2]), int(sys.argv[3])
for r in range(runs):
    t0, c0 = time.perf_counter(), time.process_time()
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    n = len(c.compress(data)) + len(c.flush())
    print((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000, n)
`;

function python(level: number): Rate {
  const out = execFileSync("python3", ["-c", PY, inputPath!, String(level), String(runs)], { encoding: "utf8" });
  return best(
    out
      .trim()
      .split("\n")
      .map((line) => {
        const [wall, cpu, size] = line.split(" ").map(Number);
        return { wall: mbps(wall!), cpu: mbps(cpu!), size: size! };
      }),
  );
}

function ours(level: number, piece: number): Rate {
  let size = 0;
  const sink = (b: Uint8Array): void => {
    size += b.length;
  };
  const warm = new ZlibEncoder(level, () => {});
  warm.write(input.subarray(0, Math.min(input.length, 4 << 20)));
  warm.close();
  const rates: Rate[] = [];
  for (let r = 0; r < runs; r++) {
    size = 0;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const e = new ZlibEncoder(level, sink);
    for (let at = 0; at < input.length; at += piece) e.write(input.subarray(at, Math.min(input.length, at + piece)));
    e.close();
    const c = process.cpuUsage(c0);
    rates.push({ wall: mbps(performance.now() - t0), cpu: mbps((c.user + c.system) / 1000), size });
  }
  return best(rates);
}

const fmt = (r: Rate): string => `${r.wall.toFixed(1)} MB/s (CPU ${r.cpu.toFixed(1)})`;
console.log(`input ${inputPath}: ${(input.length / 1e6).toFixed(1)} MB; load average before ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const level of levels) {
  const mine = ours(level, input.length);
  const theirs = python(level);
  const same = mine.size === theirs.size ? "same size" : `SIZE DIFFERS ${mine.size} vs ${theirs.size}`;
  console.log(`level ${level}: ours ${fmt(mine)}, zlib ${fmt(theirs)}: ${((mine.cpu / theirs.cpu) * 100).toFixed(0)}% by CPU; ${mine.size} bytes, ${same}`);
}
for (const level of pieceLevels) {
  for (const piece of [16 << 10, 64 << 10, 1 << 20, 4 << 20]) console.log(`level ${level}, pieces of ${piece >> 10} KiB: ours ${fmt(ours(level, piece))}`);
}
console.log(`load average after ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
