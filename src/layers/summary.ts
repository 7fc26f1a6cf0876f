import type { Store } from "../store/types.js";
import { GZIP_KEPT_PREFIX, GZIP_PENDING_PREFIX } from "./gzip/convert.js";
import { decodeGzipForm, GZIP_FORM_PREFIX } from "./gzip/form.js";

/**
 * What a store holds, counted by walking it (not a hot path, and never out of date), in three
 * separate figures so that dedup and compression are never confused:
 *   logical  the bytes of every blob as clients read it;
 *   unique   the plain bytes of the distinct chunks those blobs need (after dedup);
 *   stored   those chunks as stored (after compression).
 * dedup = logical / unique, compression = unique / stored, total = logical / what the backend occupies.
 */
export interface BlobSummary {
  /** Blobs clients can read: stored as chunks, or (gzip layers) as their content and a form. */
  blobs: number;
  logicalBytes: number;
  /** Distinct chunks the blobs need, their plain and stored bytes. */
  chunks: number;
  uniqueBytes: number;
  storedBytes: number;
  /** Chunks no blob needs (left by deleted or converted blobs, interrupted ingests): what garbage collection frees. */
  unreferencedChunks: number;
  unreferencedStoredBytes: number;
  dedupRatio: number;
  compressionRatio: number;
  totalRatio: number;
  /** What the backend occupies: file blocks for the embedded store, memory for Redis. */
  backendBytes: number;
  backendKind: string;
  gzip: {
    /** gzip layers stored as their content plus a form that writes them again. */
    asContent: number;
    /** gzip layers stored as their compressed bytes, and why. */
    kept: { digest: string; reason: string }[];
    /** gzip layers not looked at yet. */
    pending: number;
  };
}

export async function summarizeBlobs(store: Store): Promise<BlobSummary> {
  const contents = new Set<string>();
  let blobs = 0;
  let logicalBytes = 0;
  let asContent = 0;
  for await (const [key, value] of store.scanMeta(GZIP_FORM_PREFIX)) {
    const form = decodeGzipForm(key.slice(GZIP_FORM_PREFIX.length), value);
    contents.add(form.content);
    blobs++;
    asContent++;
    logicalBytes += form.size;
  }
  const needed = new Map<string, number>();
  for await (const recipe of store.scanRecipes()) {
    // A gzip layer's content is the layer's, not a blob of its own.
    if (!contents.has(recipe.digest)) {
      blobs++;
      logicalBytes += recipe.size;
    }
    recipe.ids.forEach((id, i) => needed.set(id.toString("latin1"), recipe.lengths[i]!));
  }
  let chunks = 0;
  let storedBytes = 0;
  let unreferencedChunks = 0;
  let unreferencedStoredBytes = 0;
  for await (const chunk of store.scanChunks()) {
    if (needed.has(chunk.id.toString("latin1"))) {
      chunks++;
      storedBytes += chunk.data.length;
    } else {
      unreferencedChunks++;
      unreferencedStoredBytes += chunk.data.length;
    }
  }
  let uniqueBytes = 0;
  for (const length of needed.values()) uniqueBytes += length;
  const kept: { digest: string; reason: string }[] = [];
  for await (const [key, value] of store.scanMeta(GZIP_KEPT_PREFIX)) kept.push({ digest: key.slice(GZIP_KEPT_PREFIX.length), reason: value.toString("utf8") });
  let pending = 0;
  for await (const _ of store.scanMeta(GZIP_PENDING_PREFIX)) pending++;
  const { backendBytes, backendKind } = await store.usage();
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    blobs,
    logicalBytes,
    chunks,
    uniqueBytes,
    storedBytes,
    unreferencedChunks,
    unreferencedStoredBytes,
    dedupRatio: ratio(logicalBytes, uniqueBytes),
    compressionRatio: ratio(uniqueBytes, storedBytes),
    totalRatio: ratio(logicalBytes, backendBytes),
    backendBytes,
    backendKind,
    gzip: { asContent, kept, pending },
  };
}
