import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import { RecreatedCache } from "../layers/gzip/recreated-cache.js";

/** MiB as the caches take them: bytes. */
export function mebibytes(value: number): number {
  return Math.floor(value * 1024 * 1024);
}

/**
 * The disk cache of re-created gzip layers: `gzipCacheMb` (0 turns it off) in `gzipCacheDir`, by
 * default inside an embedded store's directory, else under $XDG_CACHE_HOME (~/.cache), one
 * directory per store location.
 */
export async function openGzipCache(settings: { gzipCacheMb: number; gzipCacheDir?: string }, storeLocation: string): Promise<RecreatedCache | undefined> {
  if (settings.gzipCacheMb === 0) return undefined;
  return RecreatedCache.open(settings.gzipCacheDir ?? defaultGzipCacheDir(storeLocation), mebibytes(settings.gzipCacheMb));
}

function defaultGzipCacheDir(storeLocation: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(storeLocation)) return join(storeLocation, "gzip-cache");
  const cacheHome = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  return join(cacheHome, "docker-dedup", `gzip-${createHash("sha256").update(storeLocation).digest("hex").slice(0, 16)}`);
}
