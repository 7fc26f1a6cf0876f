import assert from "node:assert/strict";
import { test } from "node:test";
import { CHUNK_RECEIVED, CHUNK_WAITING, replan } from "../../src/sites/schedule/replan.js";
import { assignmentCost, planTransfer } from "../../src/sites/schedule/schedule.js";
import { type MissingChunks, NO_SOURCE } from "../../src/sites/schedule/transfer.js";
import { mask, randomChunks, seededRandom } from "./instances.js";

const IN_FLIGHT_PER_LINK = 8;

/**
 * The state of a transfer that followed `source` for `seconds` at the planned bandwidths: each
 * site sent its chunks in index order; the next IN_FLIGHT_PER_LINK are in flight, the rest wait.
 */
function progressAfter(chunks: MissingChunks, source: Uint8Array, bandwidth: number[], seconds: number): Uint8Array {
  const state = new Uint8Array(source.length).fill(CHUNK_WAITING);
  bandwidth.forEach((rate, site) => {
    let sent = 0;
    let inFlight = 0;
    for (let i = 0; i < source.length; i++) {
      if (source[i] !== site) continue;
      sent += chunks.sizes[i]!;
      if (sent <= rate * seconds) state[i] = CHUNK_RECEIVED;
      else if (inFlight++ < IN_FLIGHT_PER_LINK) state[i] = site;
    }
  });
  return state;
}

/** Only chunks still waiting (or stranded on a dead link) are planned, each from a live holder if there is one. */
function assertPlansTheRest(chunks: MissingChunks, state: Uint8Array, newSource: Uint8Array, bandwidth: number[]): void {
  for (let i = 0; i < state.length; i++) {
    const stranded = state[i] === CHUNK_WAITING || (state[i] !== CHUNK_RECEIVED && bandwidth[state[i]!] === 0);
    const liveHolder = bandwidth.some((rate, site) => rate > 0 && (chunks.holders[i]! >>> site) & 1);
    if (!stranded || !liveHolder) assert.equal(newSource[i], NO_SOURCE, `chunk ${i} is received, in flight or unreachable`);
    else assert.ok((chunks.holders[i]! >>> newSource[i]!) & 1 && bandwidth[newSource[i]!]! > 0, `chunk ${i} from ${newSource[i]}`);
  }
}

test("a link that slows down 5x mid-transfer gets its share moved to the others", () => {
  const random = seededRandom(5);
  const chunks = randomChunks(random, 4000, 4, 4096, 65536);
  const bandwidth = [2.5e6, 6.25e6, 12.5e6, 25e6]; // 20, 50, 100, 200 Mbit/s
  const plan = planTransfer(chunks, { bandwidth }, { policy: "network-aware" });
  const state = progressAfter(chunks, plan.source, bandwidth, plan.makespan / 3);

  const slowed = [...bandwidth];
  slowed[3] = bandwidth[3]! / 5;
  const again = replan(chunks, state, slowed, { policy: "network-aware" });
  assertPlansTheRest(chunks, state, again.source, slowed);

  // Keeping the old plan on the slowed links against the new plan, from the same moment on.
  const waiting = state.map((s, i) => (s === CHUNK_WAITING ? plan.source[i]! : NO_SOURCE));
  const backlog = bandwidth.map((_, site) => chunks.sizes.reduce((sum, size, i) => sum + (state[i] === site ? size : 0), 0));
  const kept = assignmentCost(chunks, waiting, { bandwidth: slowed, backlog });
  const keptOnSlowLink = kept.bytesPerSite[3]!;
  assert.ok(again.bytesPerSite[3]! < keptOnSlowLink / 2, `slow link: ${again.bytesPerSite[3]} new bytes against ${keptOnSlowLink}`);
  assert.ok(again.makespan < kept.makespan / 2, `re-planned ${again.makespan} s against ${kept.makespan} s`);
  const slack = 65536 / Math.min(...slowed);
  assert.ok(again.makespan <= again.lowerBound + slack, `${again.makespan} > ${again.lowerBound} + ${slack}`);
  // The chunks in flight on the slow link are part of the bound: they arrive no sooner than it allows.
  assert.ok(again.lowerBound >= backlog[3]! / slowed[3]!);
});

test("a dead site's chunks in flight and waiting go to the other holders; what only it holds is unreachable", () => {
  const count = 600;
  const sizes = new Uint32Array(count).fill(10000);
  const holders = Uint32Array.from({ length: count }, (_, i) => (i >= count - 20 ? mask(0) : mask(0, 1, 2)));
  const bandwidth = [3e6, 1e6, 1e6];
  const plan = planTransfer({ sizes, holders }, { bandwidth }, { policy: "network-aware" });
  const state = progressAfter({ sizes, holders }, plan.source, bandwidth, plan.makespan / 2);
  assert.ok(state.some((s) => s === 0), "site 0 has chunks in flight");

  const dead = [0, 1e6, 1e6];
  const again = replan({ sizes, holders }, state, dead, { policy: "network-aware" });
  assertPlansTheRest({ sizes, holders }, state, again.source, dead);
  assert.equal(again.bytesPerSite[0], 0);
  const lost = [...state.keys()].filter((i) => i >= count - 20 && state[i] !== CHUNK_RECEIVED);
  assert.ok(lost.length > 0);
  assert.deepEqual([...again.unreachable], lost);
  // The in-flight chunks of site 0 are planned again along with the waiting ones.
  const replanned = [...state.keys()].filter((i) => i < count - 20 && (state[i] === 0 || state[i] === CHUNK_WAITING));
  assert.equal(again.bytesPerSite[1]! + again.bytesPerSite[2]!, replanned.length * 10000);
});

test("re-planning without a change keeps the remaining makespan", () => {
  const random = seededRandom(11);
  const chunks = randomChunks(random, 2000, 3, 4096, 65536);
  const bandwidth = [4e6, 8e6, 16e6];
  const plan = planTransfer(chunks, { bandwidth }, { policy: "network-aware" });
  const elapsed = plan.makespan / 2;
  const again = replan(chunks, progressAfter(chunks, plan.source, bandwidth, elapsed), bandwidth, { policy: "network-aware" });
  // What remains of the original plan takes its makespan minus the time elapsed; re-planning
  // may balance the rest better. Slack: one chunk for the rounding, and one because a chunk
  // partly sent counts whole as in flight.
  const slack = (2 * 65536) / 4e6;
  assert.ok(again.makespan <= plan.makespan - elapsed + slack, `${again.makespan} > ${plan.makespan - elapsed} + ${slack}`);
});
