import { DedupError } from "../errors.js";
import { openRedisSeed } from "./seed-redis.js";

/** A key that may name a layer, with the end of its value (see `scanLayerCandidates`). */
export interface SeedCandidate {
  key: string;
  tail: Buffer;
}

/**
 * A docker_dedup (seed) database, read only: one keyspace of hex keys to byte values, chunks and
 * layer recipes alike (seed-format.ts). Redis here; the seed's Cassandra table
 * `tp.chunk(digest text PRIMARY KEY, block blob)` holds the same keys and values and fits too.
 * Every call is one batch: callers bound the batch sizes, the source pipelines each batch.
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
  /** The byte length of each key's value, without reading it; undefined where there is none. */
  valueLengths(keys: readonly string[]): Promise<(number | undefined)[]>;
  close(): Promise<void>;
}

/** Opens the seed database a URL names: `redis://HOST:PORT[/DB]` (or `rediss://`, TLS). */
export async function openSeedSource(url: string): Promise<SeedSource> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "redis" || scheme === "rediss") return openRedisSeed(url);
  throw new DedupError("INPUT_INVALID", `--from takes the seed's Redis as redis://HOST:PORT[/DB], not "${url}"`);
}
