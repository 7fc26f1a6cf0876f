import { DedupError } from "../errors.js";
import type { SeedSource } from "./seed-source.js";

/** The URLs of the seed's databases, for messages and help. */
export const SEED_URLS = { redis: "redis://HOST:PORT[/DB]", cassandra: "cassandra://HOST:PORT[,HOST:PORT...][/KEYSPACE]" } as const;

/**
 * Opens the seed database a URL names: `redis://HOST:PORT[/DB]` (or `rediss://`, TLS), or
 * `cassandra://HOST:PORT[,HOST:PORT...][/KEYSPACE]` (the seed's keyspace `tp` by default).
 */
export async function openSeedSource(url: string): Promise<SeedSource> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  // Each loaded on demand, as the stores are (store/open.ts): a Redis import needs no Cassandra
  // driver, and no other command (add among them) loads either client.
  if (scheme === "redis" || scheme === "rediss") return (await import("./seed-redis.js")).openRedisSeed(url);
  if (scheme === "cassandra") return (await import("./seed-cassandra.js")).openCassandraSeed(url);
  throw new DedupError("INPUT_INVALID", `--from takes the seed's Redis as ${SEED_URLS.redis} or its Cassandra as ${SEED_URLS.cassandra}, not "${url}"`);
}

