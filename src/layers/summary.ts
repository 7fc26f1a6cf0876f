import { slicesAmong } from "../store/runs.js";
import type { Store } from "../store/types.js";
import { GZIP_KEPT_PREFIX, GZIP_PENDING_PREFIX } from "./gzip/convert.js";
import { decodeGzipForm, GZIP_FORM_PREFIX } from "./gzip/form.js";

/**
 * What a store holds, counted by walking its recipes, metadata and chunk index (never a chunk's
 * bytes), in separate figures so that dedup and compression are never confused:
 *
 *   logical   the bytes of every blob as clients read it (a gzip layer at its compressed size);
 *   chunked   the bytes the chunks make up before dedup: every blob as stored, so a gzip layer
 *             stored as its content counts at its content's (uncompressed) size;
 *   unique    the plain bytes of the distinct chunks those blobs need (after dedup);
 *   stored    those chunks as stored (after compression).
 *
 * dedup = chunked / unique: how much repeats saved, never below 1 (a store of one tar without
 * repeats is 1.0x, gzip or not). Dividing logical bytes instead would mix in gzip: a gzip layer
 * stored as its content has fewer logical bytes than the content's chunks hold, and would show
 * "dedup" under 1. compression = unique / stored, total = logical / what the backend occupies
 * (what clients see per byte spent). A tar stored both as a blob of its own and as the content
 * of a gzip layer counts once, as the content: the store cannot tell them apart, and the ratio
 * errs low rather than high.
 */
export interface BlobSummary {
  /** Blobs clients can read: stored as chunks, or (gzip layers) as their content and a form. */
  blobs: number;
  logicalBytes: number;
  chunkedBytes: number;
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
    /** gzip layers stored as their content plus a form that writes them again... */
    asContent: number;
    /** ...their size as clients read them (compressed), part of the logical bytes... */
    asContentBytes: number;
    /** ...and their content's size (uncompressed), part of the chunked bytes instead. */
    contentBytes: number;
    /** gzip layers stored as their compressed bytes, and why. */
    kept: { digest: string; reason: string }[];
    /** gzip layers not looked at yet. */
    pending: number;
  };
}

export async function summarizeBlobs(store: Store): Promise<BlobSummary> {
  // A conversion running meanwhile moves a layer from pending to kept or to converted (its new
  // record committed before the pending mark goes), and each scan sees the store as it is when
  // it runs. Scanned in that order, a layer is seen at least once: pending ones that were kept
  // or converted by the later scans count there only.
  const pendingDigests = new Set<string>();
  for await (const [key] of store.scanMeta(GZIP_PENDING_PREFIX)) pendingDigests.add(key.slice(GZIP_PENDING_PREFIX.length));
  const keptReasons = new Map<string, string>();
  for await (const [key, value] of store.scanMeta(GZIP_KEPT_PREFIX)) keptReasons.set(key.slice(GZIP_KEPT_PREFIX.length), value.toString("utf8"));
  /** Each gzip layer stored as its content: the content's digest (one per layer, repeats kept). */
  const contentOf: string[] = [];
  let asContentBytes = 0;
  for await (const [key, value] of store.scanMeta(GZIP_FORM_PREFIX)) {
    const digest = key.slice(GZIP_FORM_PREFIX.length);
    const form = decodeGzipForm(digest, value);
    contentOf.push(form.content);
    asContentBytes += form.size;
    pendingDigests.delete(digest);
    keptReasons.delete(digest);
  }
  for (const digest of keptReasons.keys()) pendingDigests.delete(digest);
  const contents = new Set(contentOf);
  const contentSizes = new Map<string, number>();
  let blobs = contentOf.length;
  let plainBlobBytes = 0;
  const needed = new Map<string, number>();
  for await (const recipe of store.scanRecipes()) {
    // A gzip layer's content is the layer's, not a blob of its own.
    if (contents.has(recipe.digest)) contentSizes.set(recipe.digest, recipe.size);
    else {
      blobs++;
      plainBlobBytes += recipe.size;
    }
    recipe.ids.forEach((id, i) => needed.set(id.toString("latin1"), recipe.lengths[i]!));
  }
  let contentBytes = 0;
  for (const content of contentOf) contentBytes += contentSizes.get(content) ?? 0;
  // The runs whose slices needed chunks are (store/codec.ts) hold those chunks' bytes: their stored bytes count, not as chunks.
  const runs = new Set<string>();
  for await (const batch of store.scanChunkEntries()) {
    const holders = batch.filter((entry) => needed.has(entry.id.toString("latin1")));
    for (const { run } of await slicesAmong(store, holders)) runs.add(run.toString("latin1"));
  }
  let chunks = 0;
  let storedBytes = 0;
  let unreferencedChunks = 0;
  let unreferencedStoredBytes = 0;
  for await (const batch of store.scanChunkEntries()) {
    for (const entry of batch) {
      const key = entry.id.toString("latin1");
      if (runs.has(key)) {
        storedBytes += entry.storedLength;
      } else if (needed.has(key)) {
        chunks++;
        storedBytes += entry.storedLength;
      } else {
        unreferencedChunks++;
        unreferencedStoredBytes += entry.storedLength;
      }
    }
  }
  let uniqueBytes = 0;
  for (const length of needed.values()) uniqueBytes += length;
  const kept = [...keptReasons].map(([digest, reason]) => ({ digest, reason }));
  const { backendBytes, backendKind } = await store.usage();
  const logicalBytes = plainBlobBytes + asContentBytes;
  const chunkedBytes = plainBlobBytes + contentBytes;
  const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);
  return {
    blobs,
    logicalBytes,
    chunkedBytes,
    chunks,
    uniqueBytes,
    storedBytes,
    unreferencedChunks,
    unreferencedStoredBytes,
    dedupRatio: ratio(chunkedBytes, uniqueBytes),
    compressionRatio: ratio(uniqueBytes, storedBytes),
    totalRatio: ratio(logicalBytes, backendBytes),
    backendBytes,
    backendKind,
    gzip: { asContent: contentOf.length, asContentBytes, contentBytes, kept, pending: pendingDigests.size },
  };
}
