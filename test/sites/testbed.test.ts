import assert from "node:assert/strict";
import { test } from "node:test";
import type { FlowReport, ProbeReport, ProbeSpec } from "./link-probe.js";
import { runInTestbed, testbedUnavailable } from "./testbed.js";

/**
 * The testbed (scripts/sites/testbed.sh): sites on 127.0.0.x in a loopback-only network
 * namespace, each link limited by its own HTB class. Checked with byte counters: each flow
 * must pass through its own link's class. Achieved rates are printed, never asserted (timings
 * depend on the machine's load). Needs root or unprivileged user namespaces, and tc.
 */

const PROBE_URL = new URL("./link-probe.js", import.meta.url).href;
const unavailable = await testbedUnavailable();

async function probeInTestbed(links: string[], spec: ProbeSpec): Promise<ProbeReport> {
  const script = `await (await import(${JSON.stringify(PROBE_URL)})).main(process.argv.slice(1));`;
  const run = await runInTestbed(links, [process.execPath, "--input-type=module", "-e", script, JSON.stringify(spec)]);
  assert.equal(run.code, 0, `testbed run failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as ProbeReport;
}

/** Mbit/s received between the first arrival at or after `from` and the last at or before `to`. */
function mbitBetween(flow: FlowReport, from: number, to: number): string {
  const inside = flow.arrivals.filter(([time]) => time >= from && time <= to);
  if (inside.length < 2 || inside.at(-1)![0] === inside[0]![0]) return "(too few arrivals to tell)";
  const [t0, b0] = inside[0]!;
  const [t1, b1] = inside.at(-1)!;
  return ((8 * (b1 - b0)) / (t1 - t0) / 1e6).toFixed(1);
}

/** The rate once the connection is up and the burst spent. */
const steadyMbit = (flow: FlowReport) => mbitBetween(flow, flow.arrivals[0]![0] + 0.25, Infinity);

function assertCarriedBy(report: ProbeReport, link: string, bytes: number): void {
  const counter = report.counters.find((c) => c.link === link);
  assert.ok(counter, `no class for ${link}: ${JSON.stringify(report.counters)}`);
  // The payload plus TCP/IP and HTTP headers, which are tiny next to 64 KiB loopback packets.
  assert.ok(counter.bytes >= bytes && counter.bytes <= bytes * 1.02 + 65536, `${link} carried ${counter.bytes} bytes for ${bytes}`);
}

test("two sites send to a third at once, each flow through its own link's class", { skip: unavailable ?? false }, async () => {
  const links = ["127.0.0.2>127.0.0.1=40mbit", "127.0.0.3>127.0.0.1=80mbit"];
  const report = await probeInTestbed(links, {
    client: "127.0.0.1",
    flows: [
      { server: "127.0.0.2", bytes: 5_000_000 },
      { server: "127.0.0.3", bytes: 10_000_000 },
    ],
  });
  assert.deepEqual(report.flows.map((f) => f.bytes), [5_000_000, 10_000_000]);
  assertCarriedBy(report, "127.0.0.2>127.0.0.1", 5_000_000);
  assertCarriedBy(report, "127.0.0.3>127.0.0.1", 10_000_000);
  // Requests and ACKs towards the servers are on links that are not shaped.
  const other = report.counters.find((c) => c.link === "default")!;
  assert.ok(other.bytes > 0 && other.bytes < 1_000_000, `default carried ${other.bytes}`);
  for (const [k, flow] of report.flows.entries()) {
    console.log(`${flow.server} -> 127.0.0.1: configured ${links[k]!.split("=")[1]}, achieved ${steadyMbit(flow)} Mbit/s`);
  }
});

test("the benchmark's four link rates, all at once (rates printed)", { skip: unavailable ?? false }, async () => {
  const rates = [20, 50, 100, 200];
  const servers = rates.map((_, k) => `127.0.0.${k + 2}`);
  // Two seconds' worth each.
  const flows = rates.map((rate, k) => ({ server: servers[k]!, bytes: rate * 250_000 }));
  const report = await probeInTestbed(
    rates.map((rate, k) => `${servers[k]}>127.0.0.1=${rate}mbit`),
    { client: "127.0.0.1", flows },
  );
  for (const [k, flow] of report.flows.entries()) {
    assertCarriedBy(report, `${servers[k]}>127.0.0.1`, flows[k]!.bytes);
    console.log(`${rates[k]} Mbit/s link: achieved ${steadyMbit(flow)} Mbit/s`);
  }
});

test("a link slowed 5x in the middle of a transfer (tc class change)", { skip: unavailable ?? false }, async () => {
  const report = await probeInTestbed(["127.0.0.2>127.0.0.1=80mbit"], {
    client: "127.0.0.1",
    flows: [{ server: "127.0.0.2", bytes: 8_000_000 }],
    changes: [{ afterBytes: 2_000_000, link: "127.0.0.2>127.0.0.1=16mbit" }],
  });
  const link = report.counters.find((c) => c.link === "127.0.0.2>127.0.0.1")!;
  assert.equal(link.bitsPerSecond, 16_000_000);
  assertCarriedBy(report, "127.0.0.2>127.0.0.1", 8_000_000);
  const [flow] = report.flows;
  const [change] = report.changes;
  console.log(
    `80 -> 16 Mbit/s, changed at ${change!.requestedAt.toFixed(2)}-${change!.appliedAt.toFixed(2)} s: ` +
      `${mbitBetween(flow!, 0, change!.requestedAt)} Mbit/s before, ${mbitBetween(flow!, change!.appliedAt + 0.1, Infinity)} Mbit/s after`,
  );
});
