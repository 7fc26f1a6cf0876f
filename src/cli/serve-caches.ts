import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { DedupError } from "../errors.js";
import { RecreatedCache } from "../layers/gzip/recreated-cache.js";

/** The flags sizing serve's caches. */
export interface CacheFlags {
  chunkCacheMb?: string;
  gzipCacheMb?: string;
  gzipCacheDir?: string;
}

/** The chunk cache's size: the flag, else $DOCKER_DEDUP_CHUNK_CACHE_MB, else 512 MiB; 0 turns it off. */
export function chunkCacheBytes(flags: CacheFlags): number {
  return mebibytes(flags.chunkCacheMb ?? process.env.DOCKER_DEDUP_CHUNK_CACHE_MB ?? "512", "chunk cache size");
}

/**
 * The disk cache of re-created gzip layers: `--gzip-cache-mb` (else $DOCKER_DEDUP_GZIP_CACHE_MB,
 * else 2048; 0 turns it off) in `--gzip-cache-dir`, by default inside an embedded store's
 * directory, else under $XDG_CACHE_HOME (~/.cache), one directory per store location.
 */
export async function openGzipCache(flags: CacheFlags, storeLocation: string): Promise<RecreatedCache | undefined> {
  const bytes = mebibytes(flags.gzipCacheMb ?? process.env.DOCKER_DEDUP_GZIP_CACHE_MB ?? "2048", "gzip cache size");
  if (bytes === 0) return undefined;
  return RecreatedCache.open(flags.gzipCacheDir ?? defaultGzipCacheDir(storeLocation), bytes);
}

function defaultGzipCacheDir(storeLocation: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(storeLocation)) return join(storeLocation, "gzip-cache");
  const cacheHome = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  return join(cacheHome, "docker-dedup", `gzip-${createHash("sha256").update(storeLocation).digest("hex").slice(0, 16)}`);
}

function mebibytes(text: string, what: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new DedupError("INPUT_INVALID", `bad ${what} "${text}": expected MiB, a number >= 0`);
  return Math.floor(value * 1024 * 1024);
}
