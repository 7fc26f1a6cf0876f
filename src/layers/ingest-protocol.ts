import type { ChunkId } from "../store/chunk-id.js";
import { CHUNK_ID_BYTES } from "../store/chunk-id.js";
import type { Claim } from "./claims.js";
import type { IngestResult } from "./ingest.js";
import type { BlobSource } from "./sources.js";

/** Messages between IngestPool (main thread) and its workers. */
export type ToWorker =
  | { type: "ingest"; job: number; source: BlobSource }
  | { type: "reply"; call: number; value?: Claim[] | boolean[]; error?: string };

export type FromWorker =
  | { type: "progress"; job: number; bytes: number }
  | { type: "inputDone"; job: number }
  | { type: "done"; job: number; result: IngestResult }
  | { type: "failed"; job: number; error: { code: string; message: string; detail: Record<string, unknown> } }
  | { type: "claim" | "awaitIdle"; call: number; ids: Uint8Array }
  | { type: "settle"; ids: Uint8Array };

/** Chunk ids travel as one buffer of concatenated 32-byte ids: one copy, not one object each. */
export function joinIds(ids: readonly ChunkId[]): Uint8Array {
  return Buffer.concat(ids, ids.length * CHUNK_ID_BYTES);
}

export function splitIds(bytes: Uint8Array): ChunkId[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids: ChunkId[] = [];
  for (let at = 0; at < buffer.length; at += CHUNK_ID_BYTES) ids.push(buffer.subarray(at, at + CHUNK_ID_BYTES));
  return ids;
}
