import type { MissingChunks } from "./transfer.js";

/**
 * Chunks grouped by the set of usable sites holding them (Nitro's "classes"): at most
 * 2^sites - 1 groups, in practice a handful, so the max-flow network is sized by groups and
 * sites, never by chunks.
 */
export interface HolderGroups {
  /** Usable holders of each group, as a site mask. */
  readonly masks: Uint32Array;
  /** Plain bytes of each group. */
  readonly bytes: Float64Array;
  /** Group g's chunks are members[start[g]] .. members[start[g + 1] - 1]. */
  readonly start: Uint32Array;
  readonly members: Uint32Array;
  /** Chunks no usable site holds. */
  readonly unreachable: Uint32Array;
}

/** Groups the chunks listed in `selected` by `holders & usableSites`. */
export function groupByHolders(chunks: MissingChunks, selected: Uint32Array, usableSites: number): HolderGroups {
  // Locals rather than property reads, and two passes: this runs over every chunk, often
  // before V8 has optimised it.
  const { sizes, holders } = chunks;
  const count = selected.length;
  const groupIndex = new Map<number, number>();
  const masks: number[] = [];
  const counts: number[] = [];
  const groupBytes: number[] = [];
  const groupOf = new Int32Array(count);
  const unreachable: number[] = [];
  for (let k = 0; k < count; k++) {
    const chunk = selected[k]!;
    const mask = (holders[chunk]! & usableSites) >>> 0;
    let group = groupIndex.get(mask);
    if (group === undefined) {
      group = mask === 0 ? -1 : masks.length;
      groupIndex.set(mask, group);
      if (mask !== 0) {
        masks.push(mask);
        counts.push(0);
        groupBytes.push(0);
      }
    }
    groupOf[k] = group;
    if (group < 0) {
      unreachable.push(chunk);
    } else {
      counts[group]!++;
      groupBytes[group]! += sizes[chunk]!;
    }
  }

  // Counting sort of the chunks by group.
  const groupCount = masks.length;
  const start = new Uint32Array(groupCount + 1);
  for (let g = 0; g < groupCount; g++) start[g + 1] = start[g]! + counts[g]!;
  const fill = start.slice(0, groupCount);
  const members = new Uint32Array(start[groupCount]!);
  for (let k = 0; k < count; k++) {
    const group = groupOf[k]!;
    if (group >= 0) members[fill[group]!++] = selected[k]!;
  }
  return {
    masks: Uint32Array.from(masks),
    bytes: Float64Array.from(groupBytes),
    start,
    members,
    unreachable: Uint32Array.from(unreachable),
  };
}

/** Calls `visit` with each site of a site mask, lowest first. */
export function forEachSite(mask: number, visit: (site: number) => void): void {
  for (let rest = mask >>> 0; rest !== 0; rest = (rest & (rest - 1)) >>> 0) visit(31 - Math.clz32(rest & -rest));
}
