import { resolve } from "node:path";
import { DEFAULT_CHUNKER } from "../chunking/spec.js";
import { DedupError } from "../errors.js";
import { DEFAULT_COMPRESSION } from "./codec.js";
import { EmbeddedStore } from "./embedded.js";
import type { Store, StoreSettings } from "./types.js";

export const DEFAULT_SETTINGS: StoreSettings = Object.freeze({
  chunker: DEFAULT_CHUNKER,
  compression: DEFAULT_COMPRESSION,
  chunkHash: "sha256",
});

export const DEFAULT_STORE_DIR = "./docker-dedup-data";

/** The store location from a flag, else $DOCKER_DEDUP_STORE, else a config file's, else ./docker-dedup-data. */
export function storeLocation(flag: string | undefined, configured?: string): string {
  return flag ?? process.env.DOCKER_DEDUP_STORE ?? configured ?? DEFAULT_STORE_DIR;
}

export interface OpenOptions {
  /** Make the store if none is there (with `settings`, or the defaults). */
  create?: boolean;
  settings?: StoreSettings;
}

/**
 * Opens the store at a location: a URL picks a backend by its scheme, anything else is a
 * directory for the embedded store. With `create`, a missing store is created with `settings`;
 * an existing store keeps the settings it was created with.
 */
export async function openStore(location: string, options: OpenOptions = {}): Promise<Store> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined || scheme === "file") {
    return EmbeddedStore.open(resolve(location.replace(/^file:\/\//i, "")), options.settings ?? DEFAULT_SETTINGS, options.create ?? false);
  }
  if (scheme === "redis" || scheme === "redis-cluster") {
    // Loaded on demand, as the Cassandra store is: the embedded store (and every ingest worker) needs no Redis client.
    return (await import("./redis/redis-store.js")).RedisStore.open(location, options.settings ?? DEFAULT_SETTINGS, options.create ?? false);
  }
  if (scheme === "cassandra") return (await import("./cassandra/cassandra-store.js")).CassandraStore.open(location, options.settings ?? DEFAULT_SETTINGS, options.create ?? false);
  throw new DedupError("INPUT_INVALID", `no store backend for "${scheme}://" (this build knows directories, file://, redis://, redis-cluster:// and cassandra://)`, { location });
}
