import type { Registry } from "prom-client";
import type { BlobParts } from "../layers/blob-service.js";
import { pulledCounter, pulledGauge } from "./prometheus.js";

/** A metric's name (after the prefix), its help, and where its value is read. */
type Pulled = readonly [string, string, () => number];

/**
 * What the blob services of this process did (layers/activity.ts) and how their caches fare,
 * read from the running totals they keep: ingest and rebuild throughput are these byte counters'
 * rates (`rate(docker_dedup_ingested_bytes_total[5m])`).
 */
export function registerLayerMetrics(register: Registry, parts: BlobParts): void {
  const { activity, cache, recreated } = parts;
  const counters: Pulled[] = [
    ["ingested_blobs_total", "Blobs stored through the blob service (pushes, add, gzip layers' contents), new or already stored", () => activity.ingestedBlobs],
    ["ingested_bytes_total", "Bytes of those blobs as they came in: ingest throughput", () => activity.ingestedBytes],
    ["new_chunks_total", "Chunks ingests added to the store", () => activity.newChunks],
    ["new_chunk_bytes_total", "Plain bytes of the chunks ingests added", () => activity.newChunkBytes],
    ["new_chunk_stored_bytes_total", "Stored (compressed) bytes of the chunks ingests added", () => activity.newStoredBytes],
    ["rebuilt_bytes_total", "Bytes of blobs read back (rebuilt from chunks, gzip layers re-created): rebuild throughput", () => activity.rebuiltBytes],
    ["chunk_cache_hits_total", "Chunk lookups a rebuild found decoded in memory", () => cache.hits],
    ["chunk_cache_misses_total", "Chunk lookups that had to read and decode the chunk", () => cache.misses],
    ["gc_runs_total", "Garbage collections run by this process", () => activity.collections],
    ["gc_deleted_chunk_bytes_total", "Stored bytes of the chunks garbage collection deleted", () => activity.collectedChunkBytes],
    ["gc_compacted_bytes_total", "Bytes pack rewrites gave back to the backend", () => activity.compactedBytes],
  ];
  const gauges: Pulled[] = [
    ["chunk_cache_bytes", "Decoded chunk bytes held in memory", () => cache.bytes],
    ["chunk_cache_capacity_bytes", "The chunk cache's bound (--chunk-cache-mb)", () => cache.capacity],
  ];
  if (recreated !== undefined) {
    counters.push(
      ["gzip_cache_hits_total", "Reads of gzip layers served from the disk cache of re-created layers", () => recreated.hits],
      ["gzip_cache_misses_total", "Reads of gzip layers not found in the disk cache of re-created layers (re-created, or following a re-creation under way)", () => recreated.misses],
      ["gzip_cache_followed_total", "Reads of gzip layers (whole or ranges) that followed a re-creation under way into the disk cache instead of re-creating the layer", () => recreated.followed],
    );
    gauges.push(
      ["gzip_cache_bytes", "Bytes of re-created gzip layers kept on disk", () => recreated.bytes],
      ["gzip_cache_entries", "Re-created gzip layers kept on disk", () => recreated.entries],
    );
  }
  for (const [name, help, read] of counters) pulledCounter(register, name, help, read);
  for (const [name, help, read] of gauges) pulledGauge(register, name, help, read);
}
