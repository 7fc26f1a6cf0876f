import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers.js";
import { startCassandra, type CassandraOptions } from "./servers.js";

/*
 * Measures the test harness's Cassandra: the cached fetch, single-node start to first CQL answer
 * (RUNS times), a three-node cluster start, RSS and CPU per node, and the time a clean stop takes.
 * Not a test: run `node dist/test/cassandra/measure.js [RUNS]` (MEASURE_FULL_JIT=1 for the full JIT,
 * MEASURE_SEQUENTIAL=1 to also start three nodes one after another).
 * CPU seconds are reported beside wall times because the wall time of a start on a shared 2-core
 * machine depends mostly on what else runs there.
 */

const MiB = 1024 * 1024;
const runs = Number(process.argv[2] ?? 3);
const quickJit = process.env["MEASURE_FULL_JIT"] ? false : true;

function load(): string {
  return loadavg().map((l) => l.toFixed(1)).join(" ");
}

async function one(label: string, options: CassandraOptions): Promise<void> {
  const cluster = await startCassandra(options);
  try {
    const nodes = cluster.nodes
      .map((n) => `${n.address} ${(n.rssBytes() / MiB).toFixed(0)} MiB RSS ${n.cpuSeconds().toFixed(1)} cpu-s`)
      .join("; ");
    console.log(`${label}: ready in ${(cluster.startMs / 1000).toFixed(1)} s; ${nodes}; load ${load()}`);
    const stopping = Date.now();
    await cluster.nodes[0]!.stop();
    console.log(`${label}: clean stop (SIGTERM) of ${cluster.nodes[0]!.address} took ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
    if (cluster.nodes.length > 1) {
      const restarting = Date.now();
      await cluster.nodes[0]!.restart();
      await cluster.waitUntilUp();
      console.log(`${label}: restart of ${cluster.nodes[0]!.address} until all up took ${((Date.now() - restarting) / 1000).toFixed(1)} s`);
    }
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const fetchStart = Date.now();
  execFileSync("bash", [join(REPO_ROOT, "scripts", "cassandra", "fetch.sh")], { stdio: ["ignore", "ignore", "inherit"] });
  console.log(`fetch.sh (cached): ${((Date.now() - fetchStart) / 1000).toFixed(2)} s; quickJit ${quickJit}; load ${load()}`);
  for (let i = 1; i <= runs; i++) await one(`1 node, run ${i}`, { nodes: 1, quickJit });
  await one("3 nodes, parallel start", { nodes: 3, quickJit });
  if (process.env["MEASURE_SEQUENTIAL"]) await one("3 nodes, one after another", { nodes: 3, quickJit, parallel: false });
}

// `node --test dist/test/` loads every .js file under test/ directories, this one too: measure only
// when run directly, not as a test file (the runner marks its children with NODE_TEST_CONTEXT).
if (!process.env["NODE_TEST_CONTEXT"]) await main();
