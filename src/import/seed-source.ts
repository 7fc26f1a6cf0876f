/** A key that may name a layer, with the end of its value (see `scanLayerCandidates`). */
export interface SeedCandidate {
  key: string;
  tail: Buffer;
}

/**
 * A docker_dedup (seed) database, read only: one keyspace of hex keys to byte values, chunks and
 * layer recipes alike (seed-format.ts): its Redis (seed-redis.ts), or its Cassandra table
 * `tp.chunk(digest text PRIMARY KEY, block blob)`, which holds the same keys and values
 * (seed-cassandra.ts). Every call is one batch: callers bound the batch sizes, the source issues
 * each batch's requests together.
 */
export interface SeedSource {
  /** Where it is, for messages: a URL without credentials. */
  readonly location: string;
  /**
   * Every key of 64 lowercase hex digits (a layer's key, or a sha256 chunk's), in batches, each
   * with the last `tailBytes` bytes of its value (all of a shorter one). A key may come twice;
   * keys whose values are not byte strings are left out.
   */
  scanLayerCandidates(tailBytes: number): AsyncIterable<SeedCandidate[]>;
  /** The value of each key, in order; undefined where there is none. */
  getValues(keys: readonly string[]): Promise<(Buffer | undefined)[]>;
  /**
   * The byte length of each key's value; undefined where there is none. Redis tells it without
   * sending the value (STRLEN); Cassandra has no length function, so the value is read.
   */
  valueLengths(keys: readonly string[]): Promise<(number | undefined)[]>;
  close(): Promise<void>;
}
