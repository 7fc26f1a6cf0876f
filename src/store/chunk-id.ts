import * as crypto from "node:crypto";

/**
 * A chunk is named by the SHA-256 of its plain bytes: a cryptographic hash, so that a crafted
 * blob cannot collide with (and poison) another image's chunks. BLAKE3 was measured too: on this
 * CPU (SHA-NI, no AVX-512) it is only 1.1-1.4x faster per chunk, not worth a native dependency
 * (BENCHMARKS.md). SHA-256 is also what OCI digests use.
 */
export type ChunkId = Buffer;

export const CHUNK_ID_BYTES = 32;

/** One-shot `crypto.hash` (Node 20.12+) skips a Hash object per chunk; older Nodes fall back. */
const oneShot: typeof crypto.hash | undefined = crypto.hash;

export function chunkIdOf(bytes: Uint8Array): ChunkId {
  return oneShot !== undefined ? oneShot("sha256", bytes, "buffer") : crypto.createHash("sha256").update(bytes).digest();
}
