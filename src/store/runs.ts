import { chunkIdOf, type ChunkId } from "./chunk-id.js";
import { decodeChunk, encodeChunk, plainLength, SLICE_BYTES, sliceOf, type Compression } from "./codec.js";
import type { ChunkEntry, ChunkReadOptions, ChunkStore } from "./types.js";

/**
 * The chunks' stored forms, each slice (codec.ts) replaced by its chunk's own stored form, cut
 * from its run and checked against its id: for whoever takes a chunk apart from its run (a peer,
 * a check, a chunk written back after garbage collection doomed it), compressed alone with
 * `compression`. Undefined where a chunk or its run is missing, or the run is damaged.
 */
export async function chunksApart(store: ChunkStore, ids: readonly ChunkId[], compression: Compression): Promise<(Uint8Array | undefined)[]> {
  const stored = await store.getChunks(ids);
  const runs = await runsNamed(store, stored);
  if (runs.ids.length === 0) return stored;
  const decoded = new Map(runs.ids.map((id, r) => [id.toString("latin1"), plainOf(runs.stored[r])] as const));
  return stored.map((data, i) => {
    const slice = data === undefined ? undefined : sliceOf(data);
    if (slice === undefined) return data;
    const run = decoded.get(slice.run.toString("latin1"));
    if (run === undefined || slice.offset + slice.length > run.length) return undefined;
    const plain = run.subarray(slice.offset, slice.offset + slice.length);
    return chunkIdOf(plain).equals(ids[i]!) ? encodeChunk(plain, compression) : undefined;
  });
}

/** The runs that slices among `stored` name, each once, and their stored forms (undefined where missing). */
export async function runsNamed(store: ChunkStore, stored: readonly (Uint8Array | undefined)[], options?: ChunkReadOptions): Promise<{ ids: ChunkId[]; stored: (Uint8Array | undefined)[] }> {
  const named = new Map<string, ChunkId>();
  for (const chunk of stored) {
    const run = chunk === undefined ? undefined : sliceOf(chunk)?.run;
    if (run !== undefined) named.set(run.toString("latin1"), run);
  }
  const ids = [...named.values()];
  return { ids, stored: ids.length === 0 ? [] : await store.getChunks(ids, options) };
}

/** A run's plain bytes, or undefined if it is missing or damaged. */
function plainOf(run: Uint8Array | undefined): Buffer | undefined {
  if (run === undefined || sliceOf(run) !== undefined || plainLength(run) === undefined) return undefined;
  try {
    return decodeChunk(run);
  } catch {
    return undefined;
  }
}

/**
 * The slices among `entries`, each with the run it names (each chunk whose stored length is a
 * slice's is read to tell): whatever counts a run's slices as needed must count the run too.
 */
export async function slicesAmong(store: ChunkStore, entries: readonly ChunkEntry[]): Promise<{ id: ChunkId; run: ChunkId }[]> {
  const candidates = entries.filter((entry) => entry.storedLength === SLICE_BYTES).map((entry) => entry.id);
  if (candidates.length === 0) return [];
  const stored = await store.getChunks(candidates);
  return candidates.flatMap((id, i) => {
    const run = stored[i] === undefined ? undefined : sliceOf(stored[i]!)?.run;
    return run === undefined ? [] : [{ id, run: Buffer.from(run) }];
  });
}
