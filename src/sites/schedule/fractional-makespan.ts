import { forEachSite, type HolderGroups } from "./holder-groups.js";
import { FlowNetwork } from "./max-flow.js";

/**
 * Nitro's network-aware schedule (Darrous et al., CCGrid 2018), with capacities in bytes since
 * content-defined chunks differ in size: the network
 *
 *   source -> group g (capacity: g's bytes) -> site s, if s holds g -> sink (capacity: what s can send by time T)
 *
 * carries all the bytes iff every group can be served by time T, and the smallest such T is the
 * fractional makespan, a lower bound for any chunk-by-chunk plan. A site with `backlog` bytes
 * still in flight can send bandwidth x T - backlog by time T.
 *
 * Nitro binary-searches T. We find it exactly with Newton's method on the parametric flow
 * (Dinkelbach's scheme): when the flow at T falls short, the minimum cut names a set of groups A
 * that only the sites R can serve, so T must be at least the time R needs to send every group it
 * alone holds. That time exceeds T, and it is itself a lower bound; the next flow either carries
 * everything (T is optimal) or gives a larger bound again: a few exact steps, where a binary search
 * would need a precision to stop at.
 */
export interface FractionalSchedule {
  /** The smallest makespan any split of the bytes over the holders allows, in seconds. */
  readonly makespan: number;
  /** Bytes of group g sent by site s, at [g * siteCount + s]. */
  readonly flow: Float64Array;
}

export function fractionalSchedule(
  groups: HolderGroups,
  bandwidth: ArrayLike<number>,
  backlog: ArrayLike<number>,
): FractionalSchedule {
  const siteCount = bandwidth.length;
  const groupCount = groups.masks.length;
  const flow = new Float64Array(groupCount * siteCount);
  const total = groups.bytes.reduce((sum, bytes) => sum + bytes, 0);
  if (total === 0) return { makespan: 0, flow };

  let allSites = 0;
  for (let g = 0; g < groupCount; g++) allSites |= groups.masks[g]!;
  const epsilon = total * 1e-12;
  let holderCount = 0;
  for (let g = 0; g < groupCount; g++) forEachSite(groups.masks[g]!, () => holderCount++);
  const network = new FlowNetwork(groupCount + siteCount + 2, groupCount + holderCount + siteCount, epsilon);
  const source = groupCount + siteCount;
  const sink = source + 1;
  const groupEdges = new Int32Array(groupCount * siteCount).fill(-1);
  for (let g = 0; g < groupCount; g++) {
    network.addEdge(source, g, groups.bytes[g]!);
    forEachSite(groups.masks[g]!, (s) => (groupEdges[g * siteCount + s] = network.addEdge(g, groupCount + s, Infinity)));
  }
  const sinkEdges = new Int32Array(siteCount).fill(-1);
  forEachSite(allSites, (s) => (sinkEdges[s] = network.addEdge(groupCount + s, sink, 0)));

  let makespan = timeToSend(total, allSites >>> 0, bandwidth, backlog);
  let carried = 0;
  // The sink capacities grow with T, so the minimum cuts are nested as T grows (Gallo,
  // Grigoriadis and Tarjan, 1989): each step finds a new one, at most sites + 1 steps in all.
  // The bound only guards against a bug looping forever.
  for (let iteration = 0; iteration < 2 * siteCount + 8; iteration++) {
    // Capacities only grow, so the flow found for the previous T stays valid and is augmented.
    sinkEdges.forEach((edge, s) => edge >= 0 && network.setCapacity(edge, Math.max(0, bandwidth[s]! * makespan - (backlog[s] ?? 0))));
    carried += network.maxFlow(source, sink);
    if (carried >= total * (1 - 1e-9)) {
      groupEdges.forEach((edge, i) => edge >= 0 && (flow[i] = network.flow(edge)));
      return { makespan, flow };
    }

    // Sites on the source side of the minimum cut, and every byte only they can send.
    const sourceSide = network.sourceSide(source);
    let cutSites = 0;
    for (let s = 0; s < siteCount; s++) if (sourceSide[groupCount + s]) cutSites |= 1 << s;
    let cutBytes = 0;
    for (let g = 0; g < groupCount; g++) if ((groups.masks[g]! & ~cutSites) === 0) cutBytes += groups.bytes[g]!;
    makespan = Math.max(makespan, timeToSend(cutBytes, cutSites >>> 0, bandwidth, backlog));
  }
  throw new Error("fractionalSchedule: the parametric max-flow did not converge");
}

/** The earliest time by which the sites in `mask` together can send `bytes`, each starting once its backlog is sent. */
export function timeToSend(bytes: number, mask: number, bandwidth: ArrayLike<number>, backlog: ArrayLike<number>): number {
  const sites: number[] = [];
  forEachSite(mask, (s) => bandwidth[s]! > 0 && sites.push(s));
  const ready = (s: number) => (backlog[s] ?? 0) / bandwidth[s]!;
  sites.sort((a, b) => ready(a) - ready(b));
  // Sites join in order of readiness; the answer lies between two consecutive ready times.
  let rate = 0;
  let owed = bytes;
  for (let i = 0; i < sites.length; i++) {
    rate += bandwidth[sites[i]!]!;
    owed += backlog[sites[i]!] ?? 0;
    const time = owed / rate;
    if (i === sites.length - 1 || time <= ready(sites[i + 1]!)) return time;
  }
  return Infinity;
}
