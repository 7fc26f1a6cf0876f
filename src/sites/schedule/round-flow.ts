import { forEachSite, type HolderGroups } from "./holder-groups.js";

/**
 * Turns the fractional schedule (bytes of each group per site) into one source per chunk, so
 * that no site gets more than its share of the flow plus one chunk: the plan's makespan is at
 * most the fractional optimum plus one chunk's time on some link.
 *
 * This is the rounding of Lenstra, Shmoys and Tardos (1990) for scheduling on unrelated
 * machines, applied to groups of identical-choice chunks:
 *  1. Shifting flow around a cycle of the group-site graph (alternately + and -) keeps every
 *     group's and every site's total, so cycles are cancelled until the edges carrying flow
 *     form a forest.
 *  2. In that forest every site, bar one per tree, has exactly one parent group. Each group lays
 *     its chunks end to end (in a spread order, below) over its child sites, then its parent site, each taking its flow's
 *     worth; a chunk that straddles two sites' shares goes to the first, which is a child. So a
 *     site receives at most one straddling chunk, from its parent group, and the parent site of
 *     a group never exceeds its share.
 */
export function roundToChunks(
  groups: HolderGroups,
  flow: Float64Array,
  sizes: Uint32Array,
  bandwidth: ArrayLike<number>,
  source: Uint8Array,
): void {
  const siteCount = bandwidth.length;
  const epsilon = groups.bytes.reduce((sum, bytes) => sum + bytes, 0) * 1e-12;
  const graph = new SupportGraph(groups.masks, flow, siteCount, epsilon);
  for (let cycle = graph.findCycle(); cycle; cycle = graph.findCycle()) graph.cancel(cycle);
  const parentSite = graph.parentSites();

  const { start, members } = groups;
  const order: number[] = [];
  for (let g = 0; g < groups.masks.length; g++) {
    order.length = 0;
    forEachSite(groups.masks[g]!, (s) => s !== parentSite[g] && graph.carries(g, s) && order.push(s));
    if (parentSite[g]! >= 0) order.push(parentSite[g]!);
    // A group the flow left out (no bytes, or rounding noise) goes to its fastest holder.
    if (order.length === 0) order.push(fastestHolder(groups.masks[g]!, bandwidth));

    let site = 0;
    let boundary = flow[g * siteCount + order[0]!]!;
    let position = 0;
    const first = start[g]!;
    forEachSpread(start[g + 1]! - first, (m) => {
      const chunk = members[first + m]!;
      while (position >= boundary && site < order.length - 1) boundary += flow[g * siteCount + order[++site]!]!;
      source[chunk] = order[site]!;
      position += sizes[chunk]!;
    });
  }
}

/**
 * Calls `visit` with 0 .. count-1 in bit-reversed (van der Corput) order, in which every run of
 * consecutive calls is spread evenly over the range. Laid end to end in this order, a group's
 * chunks give each site a share spread over the whole blob rather than one stretch of it, so
 * every source delivers its share in blob order at its own pace and the blob's bytes arrive
 * front to back: a client's pull streams them as they come instead of waiting, at the end,
 * for the stretches behind the slowest source's. Any order keeps the rounding's bound.
 */
function forEachSpread(count: number, visit: (index: number) => void): void {
  const bits = count <= 1 ? 0 : 32 - Math.clz32(count - 1);
  for (let i = 0; i < 1 << bits; i++) {
    const spread = bits === 0 ? 0 : reverseBits(i) >>> (32 - bits);
    if (spread < count) visit(spread);
  }
}

function reverseBits(x: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  return ((x >>> 16) | (x << 16)) >>> 0;
}

function fastestHolder(mask: number, bandwidth: ArrayLike<number>): number {
  let best = -1;
  forEachSite(mask, (s) => (best < 0 || bandwidth[s]! > bandwidth[best]!) && (best = s));
  return best;
}

/** The bipartite graph of groups (nodes 0..G-1) and sites (nodes G..G+S-1) joined where flow is carried. */
class SupportGraph {
  readonly #masks: Uint32Array;
  readonly #flow: Float64Array;
  readonly #siteCount: number;
  readonly #groupCount: number;
  readonly #epsilon: number;
  /** For each site, the groups that carried flow to it at the start (a superset of the current edges). */
  readonly #siteGroups: number[][];

  constructor(masks: Uint32Array, flow: Float64Array, siteCount: number, epsilon: number) {
    this.#masks = masks;
    this.#flow = flow;
    this.#siteCount = siteCount;
    this.#groupCount = masks.length;
    this.#epsilon = epsilon;
    this.#siteGroups = Array.from({ length: siteCount }, () => []);
    for (let g = 0; g < this.#groupCount; g++) {
      forEachSite(masks[g]!, (s) => this.carries(g, s) && this.#siteGroups[s]!.push(g));
    }
  }

  carries(group: number, site: number): boolean {
    return this.#flow[group * this.#siteCount + site]! > this.#epsilon;
  }

  /** A cycle as its nodes in order (consecutive ones, and the last and the first, are joined), or null. */
  findCycle(): number[] | null {
    const nodeCount = this.#groupCount + this.#siteCount;
    const depth = new Int32Array(nodeCount).fill(-1); // position on the DFS stack, -1 if not on it
    const seen = new Uint8Array(nodeCount);
    const stack: number[] = [];
    const cursor: number[] = [];
    for (let root = 0; root < nodeCount; root++) {
      if (seen[root]) continue;
      seen[root] = 1;
      depth[root] = 0;
      stack.push(root);
      cursor.push(0);
      while (stack.length > 0) {
        const top = stack.length - 1;
        const node = stack[top]!;
        const next = this.#neighbour(node, cursor, top);
        if (next < 0) {
          depth[node] = -1;
          stack.pop();
          cursor.pop();
          continue;
        }
        if (top > 0 && next === stack[top - 1]) continue; // the edge we came by
        if (depth[next]! >= 0) return stack.slice(depth[next]!);
        if (seen[next]) continue;
        seen[next] = 1;
        depth[next] = stack.length;
        stack.push(next);
        cursor.push(0);
      }
    }
    return null;
  }

  /** Shifts flow around the cycle until one of its edges carries none; totals per node stay the same. */
  cancel(cycle: number[]): void {
    const edges = cycle.map((node, i) => this.#edgeIndex(node, cycle[(i + 1) % cycle.length]!));
    let emptied = 1;
    for (let i = 3; i < edges.length; i += 2) if (this.#flow[edges[i]!]! < this.#flow[edges[emptied]!]!) emptied = i;
    const delta = this.#flow[edges[emptied]!]!;
    edges.forEach((edge, i) => (this.#flow[edge] = this.#flow[edge]! + (i % 2 === 0 ? delta : -delta)));
    this.#flow[edges[emptied]!] = 0;
  }

  /** For each group, the site it hangs from once each tree of the forest is rooted (-1 for a root). */
  parentSites(): Int32Array {
    const nodeCount = this.#groupCount + this.#siteCount;
    const parent = new Int32Array(nodeCount).fill(-1);
    const seen = new Uint8Array(nodeCount);
    const cursor = [0];
    // Sites first, so that trees are rooted at sites.
    for (let k = 0; k < nodeCount; k++) {
      const root = (k + this.#groupCount) % nodeCount;
      if (seen[root]) continue;
      seen[root] = 1;
      const queue = [root];
      for (let i = 0; i < queue.length; i++) {
        cursor[0] = 0;
        for (let next = this.#neighbour(queue[i]!, cursor, 0); next >= 0; next = this.#neighbour(queue[i]!, cursor, 0)) {
          if (seen[next]) continue;
          seen[next] = 1;
          parent[next] = queue[i]!;
          queue.push(next);
        }
      }
    }
    return Int32Array.from(parent.subarray(0, this.#groupCount), (p) => (p < 0 ? -1 : p - this.#groupCount));
  }

  /** The next neighbour of `node` from cursor[slot] on (advancing it), or -1. */
  #neighbour(node: number, cursor: number[], slot: number): number {
    if (node < this.#groupCount) {
      for (let s = cursor[slot]!; s < this.#siteCount; s++) {
        if ((this.#masks[node]! >>> s) & 1 && this.carries(node, s)) {
          cursor[slot] = s + 1;
          return this.#groupCount + s;
        }
      }
    } else {
      const site = node - this.#groupCount;
      const candidates = this.#siteGroups[site]!;
      for (let i = cursor[slot]!; i < candidates.length; i++) {
        if (this.carries(candidates[i]!, site)) {
          cursor[slot] = i + 1;
          return candidates[i]!;
        }
      }
    }
    cursor[slot] = Infinity;
    return -1;
  }

  #edgeIndex(a: number, b: number): number {
    const [group, siteNode] = a < this.#groupCount ? [a, b] : [b, a];
    return group * this.#siteCount + (siteNode - this.#groupCount);
  }
}
