import type { Store } from "./types.js";

export interface StoreSummary {
  blobs: number;
  chunks: number;
  /** Bytes of all blobs as clients see them. */
  logicalBytes: number;
  /** Plain bytes of the distinct chunks. */
  uniqueBytes: number;
  /** Bytes of the distinct chunks as stored (compressed). */
  storedBytes: number;
  /** logicalBytes / storedBytes. */
  dedupRatio: number;
  /** What the backend occupies: file blocks for the embedded store, memory for Redis. */
  backendBytes: number;
  backendKind: string;
  /** What each byte clients see costs the backend, and each stored chunk byte. */
  backendBytesPerLogicalByte: number;
  backendBytesPerStoredByte: number;
}

/** Counts what a store holds by walking it: not a hot path, and never out of date. */
export async function summarizeStore(store: Store): Promise<StoreSummary> {
  let blobs = 0;
  let logicalBytes = 0;
  const uniqueLengths = new Map<string, number>();
  for await (const recipe of store.scanRecipes()) {
    blobs++;
    logicalBytes += recipe.size;
    recipe.ids.forEach((id, i) => uniqueLengths.set(id.toString("latin1"), recipe.lengths[i]!));
  }
  let chunks = 0;
  let storedBytes = 0;
  for await (const chunk of store.scanChunks()) {
    chunks++;
    storedBytes += chunk.data.length;
  }
  let uniqueBytes = 0;
  for (const length of uniqueLengths.values()) uniqueBytes += length;
  const { backendBytes, backendKind } = await store.usage();
  const per = (total: number) => (total === 0 ? 0 : backendBytes / total);
  return {
    blobs,
    chunks,
    logicalBytes,
    uniqueBytes,
    storedBytes,
    dedupRatio: storedBytes === 0 ? 0 : logicalBytes / storedBytes,
    backendBytes,
    backendKind,
    backendBytesPerLogicalByte: per(logicalBytes),
    backendBytesPerStoredByte: per(storedBytes),
  };
}
