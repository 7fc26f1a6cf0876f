/**
 * The data a transfer plan works on. Chunks are indices into parallel typed arrays rather than
 * objects, because an image can miss 100,000 chunks and a plan must take milliseconds; sites are
 * indices 0..31 (MAX_SITES, config/site-config.ts), so the sites holding a chunk are one 32-bit
 * mask. Mapping indices to chunk ids and site names is the caller's business.
 */

/** In `TransferPlan.source`: the plan fetches this chunk from nowhere (not asked for, or no usable site holds it). */
export const NO_SOURCE = 255;

export interface MissingChunks {
  /** Plain size in bytes of each chunk the destination lacks. */
  readonly sizes: Uint32Array;
  /** Bit s is set when site s holds the chunk. */
  readonly holders: Uint32Array;
}

export interface Links {
  /** Bytes per second each source site delivers to the destination; 0 = unusable (down, or removed). */
  readonly bandwidth: ArrayLike<number>;
  /**
   * Bytes each site still has in flight to the destination: that site is busy for
   * backlog/bandwidth seconds before it can start on newly planned chunks. Default: none. A site
   * without bandwidth can have none: what it had in flight will not arrive.
   */
  readonly backlog?: ArrayLike<number>;
}

export interface TransferPlan {
  /** The site to fetch each chunk from (same indices as `MissingChunks`), or NO_SOURCE. */
  readonly source: Uint8Array;
  /** Bytes planned from each site. */
  readonly bytesPerSite: Float64Array;
  /** Seconds until the last planned chunk (and the last byte in flight) arrives, if every link keeps its bandwidth. */
  readonly makespan: number;
  /** The fractional optimum (Nitro's max-flow makespan) for the same chunks and links: no plan can beat it. */
  readonly lowerBound: number;
  /** Chunks that were to be planned but that no site with bandwidth holds. */
  readonly unreachable: Uint32Array;
}
