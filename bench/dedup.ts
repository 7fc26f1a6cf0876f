/**
 * The dedup core's benchmark: ingest throughput, dedup and bytes on disk for the Debian image
 * family (bench/dataset), side by side with casync and with what a plain registry stores, all in
 * the same run; then reconstruction throughput, cold and warm.
 *
 *   npm run bench                      # builds, then: node dist/bench/dedup.js
 *   node dist/bench/dedup.js [--dataset DIR] [--quick]   # --quick: fastcdc/16k tar-aware zstd:1 and zstd:3 (the default), casync 16K
 *
 * Needs the dataset (bench/dataset/build.sh) and casync (bench/dataset/deps.sh).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Compressor } from "zstd-napi";
import { FastCdcFinder } from "../src/chunking/fastcdc.js";
import { BlobParts, BlobService } from "../src/layers/blob-service.js";
import { openStore } from "../src/store/open.js";
import { CLI, dropCaches, ROOT } from "./rig.js";

const args = process.argv.slice(2);
const DATASET = args.includes("--dataset") ? args[args.indexOf("--dataset") + 1]! : "/var/tmp/docker-dedup-bench";
const QUICK = args.includes("--quick");
/** GNU time, for the CPU seconds of each `add` (all its threads). */
const TIME = "/usr/bin/time";
const MiB = 1024 * 1024;

interface Dataset {
  layers: { digest: string; size: number; file: string }[];
}
const dataset = JSON.parse(readFileSync(join(DATASET, "dataset.json"), "utf8")) as Dataset;
const layerDir = join(DATASET, "layers");
const inputBytes = dataset.layers.reduce((sum, l) => sum + l.size, 0);
const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-bench-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));

const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const mbps = (bytes: number, seconds: number) => (bytes / 1e6 / seconds).toFixed(0);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function calibrate(): string[] {
  const sample = readFileSync(join(layerDir, dataset.layers[0]!.file)).subarray(0, 64 * MiB);
  const time = (fn: () => void) => {
    const runs = [0, 1, 2].map(() => {
      const t = performance.now();
      fn();
      return (performance.now() - t) / 1000;
    });
    return mbps(sample.length, median(runs));
  };
  const rows = [`| SHA-256, one stream | ${time(() => createHash("sha256").update(sample).digest())} |`];
  rows.push(
    `| FastCDC cut finding, 16 KiB average | ${time(() => {
      const finder = new FastCdcFinder(4096, 16384, 65536);
      for (let at = 0; at < sample.length; ) {
        const cut = finder.find(sample, at, sample.length);
        at = cut < 0 ? sample.length : cut;
      }
    })} |`,
  );
  for (const level of [1, 3]) {
    const zstd = new Compressor();
    zstd.setParameters({ compressionLevel: level });
    rows.push(
      `| zstd level ${level}, 16 KiB pieces | ${time(() => {
        for (let at = 0; at < sample.length; at += 16384) zstd.compress(sample.subarray(at, at + 16384));
      })} |`,
    );
  }
  return rows;
}

interface StoreRow {
  label: string;
  seconds: number;
  /** CPU seconds of the add process and its threads (user + system), when /usr/bin/time can tell. */
  cpuSeconds: number | undefined;
  /** One-minute load average when the add started. */
  load: number;
  chunks: number;
  uniqueBytes: number;
  storedBytes: number;
  diskBytes: number;
  dir: string;
}

function ingest(label: string, flags: string[]): StoreRow {
  const dir = join(scratch, label.replace(/[^a-z0-9]+/gi, "-"));
  execFileSync("sync");
  const load = loadavg()[0]!;
  const command = [process.execPath, CLI, "add", "--store", dir, ...flags, layerDir];
  const timed = existsSync(TIME) ? [TIME, "-f", "cpu %U %S", ...command] : command;
  const t = performance.now();
  const add = spawnSync(timed[0]!, timed.slice(1), { encoding: "utf8" });
  const seconds = (performance.now() - t) / 1000;
  if (add.status !== 0) throw new Error(`add ${label} failed: ${add.stderr}`);
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(add.stderr);
  const cpuSeconds = cpu === null ? undefined : Number(cpu[1]) + Number(cpu[2]);
  const stats = JSON.parse(execFileSync(process.execPath, [CLI, "stats", "--store", dir, "--json"], { encoding: "utf8" }));
  return { label, seconds, cpuSeconds, load, chunks: stats.chunks, uniqueBytes: stats.uniqueBytes, storedBytes: stats.storedBytes, diskBytes: stats.backendBytes, dir };
}

interface CasyncRow {
  avg: string;
  uniqueBytes: number;
  storedBytes: number;
  diskBytes: number;
  mbps: string;
}

function casync(avg: string): CasyncRow {
  const out = execFileSync("bash", [join(ROOT, "bench/peers/casync.sh"), DATASET, avg], { encoding: "utf8" });
  const num = (re: RegExp) => Number(re.exec(out)![1]);
  return {
    avg,
    uniqueBytes: num(/distinct chunk bytes \(uncompressed\) (\d+) B/),
    storedBytes: num(/zstd-compressed chunk files: (\d+) B/),
    diskBytes: num(/du (\d+) B \([\d.]+ MiB\); indexes/),
    mbps: /([\d.]+) MB\/s by wall time/.exec(out)![1]!,
  };
}

async function readAll(dir: string, cacheBytes: number, passes: number): Promise<number[]> {
  const store = await openStore(dir);
  const digests: string[] = [];
  for await (const recipe of store.scanRecipes()) digests.push(recipe.digest);
  const parts = new BlobParts({ chunkCacheBytes: cacheBytes });
  const blobs = new BlobService(store, parts);
  const rates: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const t = performance.now();
    let bytes = 0;
    for (const digest of digests) for await (const piece of (await blobs.open(digest))!.read()) bytes += piece.length;
    rates.push(bytes / 1e6 / ((performance.now() - t) / 1000));
  }
  await parts.close();
  await store.close();
  return rates;
}

const out: string[] = [];
const print = (line = "") => {
  out.push(line);
  console.log(line);
};

print(`Dataset: ${dataset.layers.length} distinct layers, ${inputBytes} bytes (${mib(inputBytes)} MiB), ${DATASET}`);
print(`Machine: ${execFileSync("sh", ["-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim().replace(/\n/g, " cores,")}`);
print();
print("Calibration (MB/s, one core, median of 3):");
print("| primitive | MB/s |");
print("|---|---|");
for (const row of calibrate()) print(row);

const configs: [string, string[]][] = QUICK
  ? [
      ["fastcdc/16k tar zstd:1", ["--chunker", "fastcdc/16k", "--compression", "zstd:1"]],
      ["fastcdc/16k tar zstd:3 (default)", ["--chunker", "fastcdc/16k", "--compression", "zstd:3"]],
    ]
  : [
      ["fastcdc/16k tar zstd:1", ["--chunker", "fastcdc/16k", "--compression", "zstd:1"]],
      ["fastcdc/16k tar zstd:3", ["--chunker", "fastcdc/16k", "--compression", "zstd:3"]],
      ["fastcdc/16k plain zstd:1", ["--chunker", "fastcdc/16k", "--no-tar-aware", "--compression", "zstd:1"]],
      ["fastcdc/8k tar zstd:1", ["--chunker", "fastcdc/8k", "--compression", "zstd:1"]],
      ["fastcdc/8k plain zstd:1", ["--chunker", "fastcdc/8k", "--no-tar-aware", "--compression", "zstd:1"]],
      ["fastcdc/32k tar zstd:1", ["--chunker", "fastcdc/32k", "--compression", "zstd:1"]],
      ["fastcdc/32k plain zstd:1", ["--chunker", "fastcdc/32k", "--no-tar-aware", "--compression", "zstd:1"]],
      ["fastcdc/64k tar zstd:1", ["--chunker", "fastcdc/64k", "--compression", "zstd:1"]],
      ["fastcdc/64k plain zstd:1", ["--chunker", "fastcdc/64k", "--no-tar-aware", "--compression", "zstd:1"]],
      ["rabin/4096:8192:65536 (seed) zstd:1", ["--chunker", "rabin/4096:8192:65536", "--no-tar-aware", "--compression", "zstd:1"]],
    ];
print();
print("Ingest (`docker-dedup add` of all layers into a fresh store, durable, wall time; CPU ms per input MB of the add process, all threads; load average at its start):");
print("| store | MB/s | CPU ms/MB | load | chunks | distinct chunk MiB | stored MiB | on disk MiB |");
print("|---|---|---|---|---|---|---|---|");
const rows: StoreRow[] = [];
for (const [label, flags] of configs) {
  const row = ingest(label, flags);
  rows.push(row);
  const cpu = row.cpuSeconds === undefined ? "" : ((row.cpuSeconds * 1000) / (inputBytes / 1e6)).toFixed(1);
  print(`| docker-dedup ${label} | ${mbps(inputBytes, row.seconds)} | ${cpu} | ${row.load.toFixed(1)} | ${row.chunks} | ${mib(row.uniqueBytes)} | ${mib(row.storedBytes)} | ${mib(row.diskBytes)} |`);
}
for (const avg of QUICK ? ["16K"] : ["16K", "32K", "64K"]) {
  const row = casync(avg);
  print(`| casync make, avg ${avg} | ${row.mbps} | | ${loadavg()[0]!.toFixed(1)} | | ${mib(row.uniqueBytes)} | ${mib(row.storedBytes)} | ${mib(row.diskBytes)} |`);
}
const baselines = JSON.parse(execFileSync(process.execPath, [join(ROOT, "bench/peers/baselines.mjs"), DATASET, "--json"], { encoding: "utf8", maxBuffer: 1 << 26 }));
print(`| plain registry, uncompressed layers (distinct blobs) | | | | | ${mib(baselines.layerLevel.bytes)} | ${mib(baselines.layerLevel.bytes)} | |`);
print(`| plain registry, gzip -6 layers | | | | | | ${mib(baselines.layerLevel.gzipBytes)} | |`);
print(`| file-level dedup (distinct files in the tars, DupHunter-style) | | | | | ${mib(baselines.fileLevel.distinctFileBytes)} | | |`);

const reference = rows[0]!;
print();
print(`Reconstruction of all ${dataset.layers.length} layers from the "${reference.label}" store (in process, verified, MB/s):`);
const cold = dropCaches() ? (await readAll(reference.dir, 0, 1))[0]!.toFixed(0) : "n/a (needs root)";
const warmPages = await readAll(reference.dir, 0, 3);
const warmChunks = await readAll(reference.dir, 1024 * MiB, 3);
print("| state | MB/s |");
print("|---|---|");
print(`| cold: page cache dropped, no chunk cache | ${cold} |`);
print(`| warm page cache, no chunk cache (median of 3) | ${median(warmPages).toFixed(0)} |`);
print(`| warm: decoded-chunk cache of 1 GiB filled by a first pass (median of passes 2-3) | ${median(warmChunks.slice(1)).toFixed(0)} |`);
