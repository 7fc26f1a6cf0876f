import assert from "node:assert/strict";
import { test } from "node:test";
import { LinkEstimates } from "../../src/sites/fetch/link-estimates.js";
import { LinkProber, type ProbedLane } from "../../src/sites/fetch/link-probe.js";
import type { ProbeMeasurement } from "../../src/sites/wire/peer-client.js";
import { MAX_PROBE_BYTES, MIN_PROBE_BYTES } from "../../src/sites/wire/peer-protocol.js";
import type { MetadataStore } from "../../src/store/types.js";

/**
 * LinkProber's choices, with lanes and peers faked: which links it probes, how much it asks
 * for, what it does with the answer, and what it says when a peer fails.
 */

function memoryMeta(): MetadataStore {
  const entries = new Map<string, Buffer>();
  return {
    getMeta: async (key) => entries.get(key),
    putMeta: async (key, value) => void entries.set(key, Buffer.from(value)),
    deleteMeta: async (key) => void entries.delete(key),
    scanMeta: async function* (prefix) {
      for (const entry of [...entries].filter(([key]) => key.startsWith(prefix)).sort()) yield entry;
    },
  };
}

/** A lane whose peer answers each probe with `answer(bytes, signal)`, recording what it was asked. */
function fakeLane(name: string, answer: (bytes: number, signal: AbortSignal | undefined) => Promise<ProbeMeasurement>) {
  const asked: number[] = [];
  const lane = {
    bytesInFlight: 0,
    requestsSent: 0,
    asked,
    peer: {
      name,
      probe: (bytes: number, signal?: AbortSignal) => {
        asked.push(bytes);
        return answer(bytes, signal);
      },
    },
  } satisfies ProbedLane & { asked: number[] };
  return lane;
}

/** A probe that took one second for its bytes. */
const oneSecond = async (bytes: number): Promise<ProbeMeasurement> => ({ bytes, seconds: 1 });

async function linksFor(configured: Record<string, number | undefined>): Promise<LinkEstimates> {
  return LinkEstimates.load(memoryMeta(), new Map(Object.entries(configured)));
}

function prober(lanes: ProbedLane[], links: LinkEstimates, intervalSeconds = 60) {
  const lines: string[] = [];
  return { prober: new LinkProber({ lanes, links, intervalSeconds, log: (line) => lines.push(line) }), lines };
}

test("idle links are probed with about half a second of their estimate, within bounds, and the rate is learned", async () => {
  const links = await linksFor({ mid: 4_000_000, fast: 1e9, slow: 1000, unset: undefined });
  const lanes = ["mid", "fast", "slow", "unset"].map((name) => fakeLane(name, oneSecond));
  await prober(lanes, links).prober.probeIdleLinks();
  assert.deepEqual(
    lanes.map((lane) => lane.asked),
    [[2_000_000], [MAX_PROBE_BYTES], [MIN_PROBE_BYTES], [6_250_000]],
  );
  const mid = links.describe("mid");
  assert.equal(mid.source, "learned");
  assert.equal(mid.bytesPerSecond, 3_400_000); // 0.7 of the estimate, 0.3 of the measurement
  assert.equal(links.transferMeasuredAt("mid"), undefined, "a probe is not a transfer");
});

test("links that transfers use or measured within the interval are left alone; once the interval has passed they are probed", async () => {
  const links = await linksFor({ busy: 1e6, measured: 1e6 });
  const busy = fakeLane("busy", oneSecond);
  busy.bytesInFlight = 65536;
  const measured = fakeLane("measured", oneSecond);
  await links.observe("measured", 1e6, 1);
  await prober([busy, measured], links).prober.probeIdleLinks();
  assert.deepEqual([busy.asked, measured.asked], [[], []]);

  const shortInterval = prober([measured], links, 0.05).prober;
  await new Promise((resolve) => setTimeout(resolve, 100));
  await shortInterval.probeIdleLinks();
  assert.equal(measured.asked.length, 1, "the transfer's measurement is older than the interval now");
});

test("a probe that a transfer shared the link with is not counted", async () => {
  const links = await linksFor({ a: 1e6 });
  const lane = fakeLane("a", async (bytes) => {
    lane.requestsSent++;
    return { bytes, seconds: 10 };
  });
  await prober([lane], links).prober.probeIdleLinks();
  assert.equal(lane.asked.length, 1);
  assert.deepEqual(links.describe("a"), { bytesPerSecond: 1e6, configured: 1e6, source: "configured", updated: undefined });
});

test("a peer's probes do not overlap: a round skips a peer whose probe is still under way", async () => {
  const links = await linksFor({ a: 1e6 });
  let finish: () => void = () => assert.fail("no probe under way");
  const lane = fakeLane("a", (bytes) => new Promise((resolve) => (finish = () => resolve({ bytes, seconds: 1 }))));
  const { prober: p } = prober([lane], links);
  const first = p.probeIdleLinks();
  await p.probeIdleLinks();
  assert.equal(lane.asked.length, 1);
  finish();
  await first;
  const third = p.probeIdleLinks();
  assert.equal(lane.asked.length, 2, "the next round probes again");
  finish();
  await third;
});

test("a peer whose probes fail is said once, then once when they work again", async () => {
  const links = await linksFor({ a: 1e6, b: 1e6 });
  let down = true;
  const a = fakeLane("a", async (bytes) => {
    if (down) throw new Error("peer a: connect ECONNREFUSED");
    return { bytes, seconds: 1 };
  });
  const b = fakeLane("b", oneSecond);
  const { prober: p, lines } = prober([a, b], links);
  for (let round = 0; round < 3; round++) await p.probeIdleLinks();
  assert.deepEqual(lines, ["link probe of peer a failed: peer a: connect ECONNREFUSED (probing again every 60 s; said again once it works)"]);
  assert.equal(b.asked.length, 3, "the other peer is probed as usual");
  down = false;
  await p.probeIdleLinks();
  await p.probeIdleLinks();
  assert.deepEqual(lines.slice(1), ["link probe of peer a works again"]);
  assert.equal(links.describe("a").source, "learned");
});

test("stop cuts the probes under way, and nothing is learned or said after it", async () => {
  const links = await linksFor({ a: 1e6 });
  const lane = fakeLane(
    "a",
    (_, signal) => new Promise((_resolve, reject) => signal!.addEventListener("abort", () => reject(new Error("peer a: aborted")))),
  );
  const { prober: p, lines } = prober([lane], links);
  const round = p.probeIdleLinks();
  await p.stop();
  await round;
  await p.probeIdleLinks();
  assert.equal(lane.asked.length, 1, "no probes after stop");
  assert.deepEqual(lines, []);
  assert.equal(links.describe("a").source, "configured");
});

test("link estimates: measurements are smoothed, but one off by 2x or more replaces the estimate (the link changed)", async () => {
  const links = await linksFor({ steady: 10_000_000 });
  await links.observe("steady", 12_000_000, 1);
  assert.equal(links.get("steady"), 0.7 * 10_000_000 + 0.3 * 12_000_000);
  await links.observe("steady", 2_000_000, 1); // a 5x slower link: planned on at once
  assert.equal(links.get("steady"), 2_000_000);
  await links.observe("steady", 9_000_000, 1.5); // 6 MB/s: faster again
  assert.equal(links.get("steady"), 6_000_000);
});
