import type { Registry } from "prom-client";
import type { BlobSummary } from "../layers/summary.js";
import type { BackgroundSample } from "./background-sample.js";
import { pulledCounters, pulledGauge, pulledGauges } from "./prometheus.js";

/** What the store holds, taken in the background (a walk of its recipes and chunk index): never computed by a scrape. */
export interface StoreTotals {
  summary: BlobSummary;
  /** Live upload sessions of every frontend on the store (counting stops at --max-uploads). */
  uploadSessions: number;
}

/**
 * The store's totals from their last sample (layers/summary.ts explains the figures): logical,
 * chunked, unique and stored bytes as separate gauges, so that dedup (chunked / unique) and
 * compression (unique / stored) are never confused; and when the sample was taken, so that a
 * stale figure shows as such. Also the store's failures, counted as calls fail.
 */
export function registerStoreMetrics(register: Registry, totals: BackgroundSample<StoreTotals>, failures: ReadonlyMap<string, number>): void {
  const summary = <T>(read: (s: BlobSummary) => T) => () => (totals.latest === undefined ? undefined : read(totals.latest.value.summary));
  pulledGauge(register, "store_blobs", "Blobs the store holds", summary((s) => s.blobs));
  pulledGauge(register, "store_chunks", "Distinct chunks those blobs need", summary((s) => s.chunks));
  pulledGauge(register, "store_logical_bytes", "Bytes of every blob as clients read it (gzip layers compressed)", summary((s) => s.logicalBytes));
  pulledGauge(register, "store_chunked_bytes", "Bytes the chunks make up before dedup (gzip layers stored as their content at its size)", summary((s) => s.chunkedBytes));
  pulledGauge(register, "store_unique_bytes", "Plain bytes of the distinct chunks (after dedup)", summary((s) => s.uniqueBytes));
  pulledGauge(register, "store_stored_bytes", "Those chunks as stored (after compression)", summary((s) => s.storedBytes));
  pulledGauge(register, "store_backend_bytes", "What the backend occupies (disk, or Redis memory)", summary((s) => s.backendBytes));
  pulledGauge(register, "store_unreferenced_stored_bytes", "Stored bytes of chunks no blob needs (garbage collection frees them)", summary((s) => s.unreferencedStoredBytes));
  pulledGauges(register, "store_gzip_layers", "gzip layers by how they are stored: as their content, kept compressed, or not looked at yet", ["state"], () => {
    const s = totals.latest?.value.summary;
    return s === undefined ? [] : [[{ state: "content" }, s.gzip.asContent], [{ state: "kept" }, s.gzip.kept.length], [{ state: "pending" }, s.gzip.pending]];
  });
  pulledGauge(register, "upload_sessions", "Live upload sessions, every frontend's", () => totals.latest?.value.uploadSessions);
  pulledGauge(register, "store_totals_timestamp_seconds", "When the store's totals were last sampled (Unix time)", () => (totals.latest === undefined ? undefined : totals.latest.at / 1000));
  pulledGauge(register, "store_totals_scan_seconds", "How long the last sample of the store's totals took", () => totals.latest?.seconds);
  pulledCounters(register, "store_errors_total", "Store calls that failed (outages, timeouts, damaged data), by operation", ["operation"], () =>
    [...failures].map(([operation, count]) => [{ operation }, count] as const),
  );
}
