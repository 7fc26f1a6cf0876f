import { MAX_SITES, type SchedulePolicy } from "../../config/site-config.js";
import { DedupError } from "../../errors.js";
import { fractionalSchedule } from "./fractional-makespan.js";
import { groupByHolders } from "./holder-groups.js";
import { roundToChunks } from "./round-flow.js";
import { assignRandom, assignSingleSource } from "./simple-policies.js";
import { type Links, type MissingChunks, NO_SOURCE, type TransferPlan } from "./transfer.js";

export interface PlanOptions {
  readonly policy: SchedulePolicy;
  /** The chunks to plan, as indices into `MissingChunks`; default all of them. */
  readonly only?: Uint32Array;
  /** `random`: the seed of the generator, so that runs repeat. Default 1. */
  readonly seed?: number;
  /** `single-source`: sites in order of preference. Default 0, 1, 2, ... */
  readonly siteOrder?: readonly number[];
}

/**
 * Which site each missing chunk comes from. Pure: no IO, no clock.
 *  - `network-aware`: Nitro's max-flow schedule in bytes, rounded to whole chunks
 *    (fractional-makespan.ts, round-flow.ts); finishes within one chunk's time of the optimum.
 *    A fetch mends it as it runs (sites/fetch/peer-fetch.ts); the two baselines are kept to.
 *  - `random`: Nitro's baseline, a random holder per chunk.
 *  - `single-source`: the seed's, the first holder in a fixed site order.
 */
export function planTransfer(chunks: MissingChunks, links: Links, options: PlanOptions): TransferPlan {
  validate(chunks, links, options);
  const { bandwidth } = links;
  const backlog = links.backlog ?? new Float64Array(bandwidth.length);
  let usableSites = 0;
  for (let s = 0; s < bandwidth.length; s++) if (bandwidth[s]! > 0) usableSites |= 1 << s;
  const selected = options.only ?? allChunks(chunks.sizes.length);

  const groups = groupByHolders(chunks, selected, usableSites);
  const fractional = fractionalSchedule(groups, bandwidth, backlog);
  const source = new Uint8Array(chunks.sizes.length).fill(NO_SOURCE);
  switch (options.policy) {
    case "network-aware":
      roundToChunks(groups, fractional.flow, chunks.sizes, bandwidth, source);
      break;
    case "random":
      assignRandom(chunks, selected, usableSites, options.seed ?? 1, source);
      break;
    case "single-source":
      assignSingleSource(chunks, selected, usableSites, options.siteOrder ?? Array.from({ length: bandwidth.length }, (_, s) => s), source);
      break;
  }

  const { bytesPerSite, makespan } = assignmentCost(chunks, source, links);
  // Bytes already in flight arrive no sooner than their link allows, whatever the plan.
  let lowerBound = fractional.makespan;
  for (let s = 0; s < bandwidth.length; s++) if (bandwidth[s]! > 0) lowerBound = Math.max(lowerBound, (backlog[s] ?? 0) / bandwidth[s]!);
  return { source, bytesPerSite, makespan, lowerBound, unreachable: groups.unreachable };
}

/**
 * What an assignment costs on given links: bytes per site, and the time the last byte arrives
 * (each site sends its backlog, then its chunks). Infinite if a chunk is assigned to a site
 * without bandwidth, which is how a plan made before a link died looks afterwards.
 */
export function assignmentCost(
  chunks: MissingChunks,
  source: Uint8Array,
  links: Links,
): { bytesPerSite: Float64Array; makespan: number } {
  const siteCount = links.bandwidth.length;
  const bytesPerSite = new Float64Array(siteCount);
  const { sizes } = chunks;
  for (let i = 0; i < source.length; i++) {
    const site = source[i]!;
    if (site !== NO_SOURCE) bytesPerSite[site]! += sizes[i]!;
  }
  let makespan = 0;
  for (let s = 0; s < siteCount; s++) {
    const bytes = bytesPerSite[s]! + (links.backlog?.[s] ?? 0);
    if (bytes > 0) makespan = Math.max(makespan, links.bandwidth[s]! > 0 ? bytes / links.bandwidth[s]! : Infinity);
  }
  return { bytesPerSite, makespan };
}

function allChunks(count: number): Uint32Array {
  const chunks = new Uint32Array(count);
  for (let i = 0; i < count; i++) chunks[i] = i;
  return chunks;
}

function validate(chunks: MissingChunks, links: Links, options: PlanOptions): void {
  const siteCount = links.bandwidth.length;
  const invalid = (message: string) => new DedupError("INPUT_INVALID", `transfer plan: ${message}`);
  if (chunks.sizes.length !== chunks.holders.length) throw invalid("sizes and holders differ in length");
  if (siteCount > MAX_SITES) throw invalid(`at most ${MAX_SITES} sites`);
  for (let s = 0; s < siteCount; s++) {
    if (!(links.bandwidth[s]! >= 0 && Number.isFinite(links.bandwidth[s]))) throw invalid(`bandwidth of site ${s} is not a finite number >= 0`);
    const backlog = links.backlog?.[s] ?? 0;
    if (!(backlog >= 0 && Number.isFinite(backlog))) throw invalid(`backlog of site ${s} is not a finite number >= 0`);
    if (backlog > 0 && links.bandwidth[s] === 0) throw invalid(`site ${s} has bytes in flight but no bandwidth: plan them again (replan does)`);
  }
  if (links.backlog && links.backlog.length !== siteCount) throw invalid("backlog and bandwidth differ in length");
  if (options.only?.some((chunk) => chunk >= chunks.sizes.length)) throw invalid("a chunk index is out of range");
  if (options.siteOrder?.some((s) => !(Number.isInteger(s) && s >= 0 && s < siteCount))) throw invalid("a site in siteOrder is out of range");
}
