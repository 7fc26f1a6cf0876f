/**
 * How long planning a multi-site transfer takes (issue 5 asks for under 100 ms for an image of
 * 100,000 chunks over 8 sites), and what each policy predicts.
 *
 *   node dist/bench/schedule.js [--chunks N] [--sites S] [--runs R]
 *
 * The instance is the hard case for the network-aware schedule: chunk sizes of 4 to 64 KiB,
 * 16 KiB on average like FastCDC/16k's, each chunk at a random non-empty set of sites (all
 * 2^S - 1 holder groups occur), link rates 10 to 200 Mbit/s. "first" is the first call in the process (the
 * code not yet optimised by V8), "median" is over the runs after it; each as wall-clock time
 * and as the CPU time the process used (V8's compiler threads included), which a busy machine
 * disturbs less.
 */
import type { SchedulePolicy } from "../src/config/site-config.js";
import { planTransfer } from "../src/sites/schedule/schedule.js";

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const CHUNKS = option("--chunks", 100_000);
const SITES = option("--sites", 8);
const RUNS = option("--runs", 20);
const MBIT = 125_000;

let state = 2018;
const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
const sizes = new Uint32Array(CHUNKS);
const holders = new Uint32Array(CHUNKS);
for (let i = 0; i < CHUNKS; i++) {
  // Content-defined cuts: past the minimum, a cut is about equally likely at every byte.
  sizes[i] = Math.min(65536, 4096 + Math.floor(-Math.log(1 - random()) * 12288));
  while (holders[i] === 0) holders[i] = Math.floor(random() * 2 ** SITES);
}
const bandwidth = Array.from({ length: SITES }, (_, s) => [20, 50, 100, 200, 10, 30, 70, 150][s % 8]! * MBIT);
const totalBytes = sizes.reduce((sum, size) => sum + size, 0);

console.log(`${CHUNKS} chunks (${(totalBytes / 2 ** 20).toFixed(0)} MiB), ${SITES} sites, links ${bandwidth.map((b) => b / MBIT).join("/")} Mbit/s, node ${process.version}`);
console.log("policy          first ms (cpu)    median ms (cpu)   makespan s  lower bound s");
const ms = (value: number) => value.toFixed(1).padStart(6);
for (const policy of ["network-aware", "random", "single-source"] satisfies SchedulePolicy[]) {
  const runs: { wall: number; cpu: number }[] = [];
  let plan;
  for (let run = 0; run <= RUNS; run++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    plan = planTransfer({ sizes, holders }, { bandwidth }, { policy });
    const wall = performance.now() - start;
    const used = process.cpuUsage(cpu);
    runs.push({ wall, cpu: (used.user + used.system) / 1000 });
  }
  const first = runs.shift()!;
  const median = (key: "wall" | "cpu") => runs.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
  console.log(
    `${policy.padEnd(15)} ${ms(first.wall)} (${ms(first.cpu)})  ${ms(median("wall"))} (${ms(median("cpu"))})` +
      `   ${plan!.makespan.toFixed(3).padStart(10)}  ${plan!.lowerBound.toFixed(3).padStart(13)}`,
  );
}
