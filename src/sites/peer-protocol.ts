import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "../store/chunk-id.js";

/**
 * The peer API, version 1: how sites talk to each other, on a listener of its own (never the
 * public registry port), every request carrying `Authorization: Bearer <shared secret>`.
 *
 *   GET  /dd-peer/v1/info                 {"site": NAME, "version": 1, "head": SEQ (its log head)}
 *   POST /dd-peer/v1/has                  body: chunk ids back to back (32 bytes each)
 *                                         reply: a bitmap, bit i (byte i>>3, MSB first) = holds id i
 *   POST /dd-peer/v1/chunks               body: chunk ids back to back, at most MAX_IDS_PER_REQUEST
 *                                         reply: one frame per id, in order: id (32) | length u32 BE |
 *                                         the chunk's stored form (codec byte + payload, so chunks
 *                                         that compressed travel compressed); length MISSING_CHUNK
 *                                         and no bytes for a chunk the site lacks
 *   GET  /dd-peer/v1/recipes/<digest>     the blob's binary recipe (store/recipe.ts), 404 if absent
 *   GET  /dd-peer/v1/log?after=SEQ        {"entries": [ChangeEntry...], "head": SEQ}: this site's change
 *                                         log after SEQ (change-log.ts), a page at a time
 *   GET  /dd-peer/v1/status[?image=REPO:TAG]  SiteStatus (site-admin.ts): peers (reachable, log lag,
 *                                         link estimate) and how much of each tagged image every
 *                                         site holds; for `docker-dedup sites`
 *   POST /dd-peer/v1/replicate            body {"repository", "reference", "to"?, "digest"?}: bring the
 *                                         image (an index's children too) to site `to` (this one if
 *                                         absent; else passed on to that peer), fetching only what it
 *                                         lacks; reply: ReplicateEvent lines (plan, progress..., done or
 *                                         error) as it goes; for `docker-dedup replicate`
 *
 * Ids travel as raw bytes, never hex, and never one request per chunk.
 */
export const PEER_API_PREFIX = "/dd-peer/v1/";
export const PEER_API_VERSION = 1;
export const MISSING_CHUNK = 0xffffffff;
export const FRAME_HEADER = CHUNK_ID_BYTES + 4;
/** Bounds a `has` body (1 MiB of ids) and a `chunks` request (the reply is read chunk by chunk). */
export const MAX_IDS_PER_HAS = 32768;
export const MAX_IDS_PER_REQUEST = 1024;

export function joinIds(ids: readonly ChunkId[]): Buffer {
  return Buffer.concat(ids as Buffer[], ids.length * CHUNK_ID_BYTES);
}

export function splitIds(body: Buffer, max: number): ChunkId[] {
  if (body.length % CHUNK_ID_BYTES !== 0) throw new DedupError("INPUT_INVALID", `a list of chunk ids is ${body.length} bytes, not a multiple of ${CHUNK_ID_BYTES}`);
  const count = body.length / CHUNK_ID_BYTES;
  if (count > max) throw new DedupError("INPUT_INVALID", `${count} chunk ids in one request, at most ${max}`);
  return Array.from({ length: count }, (_, i) => body.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES));
}

export function encodeBitmap(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((bit, i) => {
    if (bit) out[i >> 3]! |= 0x80 >> (i & 7);
  });
  return out;
}

export function decodeBitmap(bytes: Uint8Array, count: number): boolean[] {
  if (bytes.length !== Math.ceil(count / 8)) throw new DedupError("INPUT_INVALID", `a bitmap of ${count} bits is ${bytes.length} bytes`);
  return Array.from({ length: count }, (_, i) => ((bytes[i >> 3]! >> (7 - (i & 7))) & 1) === 1);
}

export function frameHeader(id: ChunkId, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  id.copy(header, 0);
  header.writeUInt32BE(length, CHUNK_ID_BYTES);
  return header;
}

/** A frame as received: the chunk's stored form, or undefined when the sender lacks it. */
export interface ChunkFrame {
  id: ChunkId;
  stored: Buffer | undefined;
}

/** Cuts a `chunks` reply into frames as its bytes arrive. */
export async function* readFrames(body: AsyncIterable<Buffer>): AsyncGenerator<ChunkFrame> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const piece of body) {
    pending = pending.length === 0 ? piece : Buffer.concat([pending, piece]);
    let at = 0;
    for (;;) {
      if (pending.length - at < FRAME_HEADER) break;
      const length = pending.readUInt32BE(at + CHUNK_ID_BYTES);
      const id = Buffer.from(pending.subarray(at, at + CHUNK_ID_BYTES));
      if (length === MISSING_CHUNK) {
        yield { id, stored: undefined };
        at += FRAME_HEADER;
        continue;
      }
      if (pending.length - at < FRAME_HEADER + length) break;
      yield { id, stored: Buffer.from(pending.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length)) };
      at += FRAME_HEADER + length;
    }
    pending = pending.subarray(at);
  }
  if (pending.length > 0) throw new DedupError("CHUNK_MISSING", `a chunks reply ended inside a frame (${pending.length} bytes left over)`);
}
