// Speed of the klauspost flate port (src/deflate/klauspost-flate) against the real Go encoders on the
// same input, one core each: our PgzipBodyEncoder / KlauspostFlateEncoder in this process, and
// scripts/gzip-vectors' gzipper with GOMAXPROCS=1 (pgzip then runs one block at a time). Go's times
// include its process start and reading the file from stdin.
//
//   node dist/bench/deflate-klauspost.js [input-file] [--levels=-1,1,6] [--runs=3]
//
// Without an input file, a ~50 MB tar of /etc, /usr/share/perl, /usr/lib/python3*, /usr/share/i18n and
// /usr/bin is made in a temp dir. MB/s are of input (10^6 bytes) per second of wall clock and of CPU time
// (user + sys, which other load on the machine disturbs less); the best of the runs.

import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KlauspostFlateEncoder, PgzipBodyEncoder } from "../src/deflate/klauspost-flate/index.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const args = process.argv.slice(2);
const flag = (name: string, def: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const levels = flag("levels", "-1").split(",").map(Number);
const runs = Number(flag("runs", "3"));
let inputPath = args.find((a) => !a.startsWith("--"));
let tmp: string | undefined;
if (inputPath === undefined) {
  tmp = mkdtempSync(join(tmpdir(), "kp-bench-"));
  inputPath = join(tmp, "bench.tar");
  const dirs = ["/etc", "/usr/share/perl", "/usr/lib/python3.11", "/usr/lib/python3", "/usr/share/i18n", "/usr/bin"].filter((d) => existsSync(d));
  execFileSync("sh", ["-c", `tar -cf - ${dirs.join(" ")} 2>/dev/null | head -c ${50 << 20} > ${inputPath}; true`]);
}
const input = readFileSync(inputPath);
const gzipper = execFileSync(join(ROOT, "scripts/gzip-vectors/build.sh"), { encoding: "utf8" }).trim();
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

/** MB/s by wall clock and by CPU time. */
interface Rate {
  wall: number;
  cpu: number;
}

function rate(wallMs: number, cpuMs: number): Rate {
  return { wall: input.length / 1e6 / (wallMs / 1000), cpu: input.length / 1e6 / (cpuMs / 1000) };
}

function fastest(rates: Rate[]): Rate {
  return { wall: Math.max(...rates.map((r) => r.wall)), cpu: Math.max(...rates.map((r) => r.cpu)) };
}

function go(encoderArgs: string[]): Rate {
  const rates: Rate[] = [];
  for (let r = 0; r < runs; r++) {
    const fd = openSync(inputPath!, "r");
    try {
      const cmd = TIME !== undefined ? [TIME, "-f", "cpu %U %S", gzipper, ...encoderArgs] : [gzipper, ...encoderArgs];
      const t0 = performance.now();
      const res = spawnSync(cmd[0]!, cmd.slice(1), { stdio: [fd, "ignore", "pipe"], env: { ...process.env, GOMAXPROCS: "1" } });
      const wallMs = performance.now() - t0;
      if (res.status !== 0) throw new Error(`gzipper ${encoderArgs.join(" ")} failed: ${res.stderr}`);
      const m = /cpu ([\d.]+) ([\d.]+)/.exec(res.stderr.toString());
      rates.push(rate(wallMs, m !== null ? (Number(m[1]) + Number(m[2])) * 1000 : wallMs));
    } finally {
      closeSync(fd);
    }
  }
  return fastest(rates);
}

function ours(make: (sink: (b: Uint8Array) => void) => { write(b: Uint8Array): void; close(): void }): Rate {
  let out = 0;
  const sink = (b: Uint8Array): void => {
    out += b.length;
  };
  // One run to warm up the JIT.
  const warm = make(sink);
  warm.write(input.subarray(0, Math.min(input.length, 4 << 20)));
  warm.close();
  const rates: Rate[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const e = make(sink);
    e.write(input);
    e.close();
    const c = process.cpuUsage(c0);
    rates.push(rate(performance.now() - t0, (c.user + c.system) / 1000));
  }
  if (out === 0) throw new Error("no output");
  return fastest(rates);
}

function report(what: string, mine: Rate, theirs: Rate): void {
  const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)}%`;
  console.log(
    `${what}: ours ${mine.wall.toFixed(1)} MB/s (CPU ${mine.cpu.toFixed(1)}), Go ${theirs.wall.toFixed(1)} MB/s (CPU ${theirs.cpu.toFixed(1)}): ${pct(mine.wall, theirs.wall)} (CPU ${pct(mine.cpu, theirs.cpu)})`,
  );
}

console.log(`input ${inputPath}: ${(input.length / 1e6).toFixed(1)} MB; load average before ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
for (const level of levels) {
  for (const block of [1 << 20, 256 << 10]) {
    const mine = ours((sink) => new PgzipBodyEncoder(level, block, sink));
    const theirs = go(["-encoder", "pgzip", "-level", String(level), "-block", String(block)]);
    report(`pgzip level ${level}, ${block >> 10} KiB blocks`, mine, theirs);
  }
  const kl = level === -1 ? 5 : level;
  const mine = ours((sink) => new KlauspostFlateEncoder(kl, sink));
  const theirs = go(["-encoder", "kflate", "-level", String(kl)]);
  report(`kflate level ${kl}`, mine, theirs);
}
console.log(`load average after ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
