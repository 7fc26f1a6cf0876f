import { DedupError } from "../../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "../../store/chunk-id.js";

/**
 * The peer API, version 2: how sites talk to each other, on a listener of its own (never the
 * public registry port), every request carrying `Authorization: Bearer <shared secret>`.
 *
 *   GET  /dd-peer/v2/info                 {"site": NAME, "version": 2, "head": SEQ (its log head)}
 *   POST /dd-peer/v2/has                  body: chunk ids back to back (32 bytes each)
 *                                         reply: a bitmap, bit i (byte i>>3, MSB first) = holds id i
 *   POST /dd-peer/v2/chunks               body: chunk ids back to back, at most MAX_IDS_PER_REQUEST
 *                                         reply: one frame per id, in the order asked: length u32 BE |
 *                                         the chunk's stored form (codec byte + payload, so chunks
 *                                         that compressed travel compressed); length MISSING_CHUNK
 *                                         and no bytes for a chunk the site lacks. (Version 1 also
 *                                         repeated each id: 0.8% of the bytes of a typical image's
 *                                         chunks, and the asker checks every chunk against its id
 *                                         anyway.)
 *   GET  /dd-peer/v2/recipes/<digest>     the blob's binary recipe (store/recipe.ts), 404 if absent
 *   GET  /dd-peer/v2/forms/<digest>       a gzip layer held as its content (layers/gzip/form.ts): its form,
 *                                         JSON (encodeGzipForm), which names the content, a blob asked
 *                                         for as any other; 404 if the site holds no such form (it may
 *                                         hold a recipe, or nothing). Added within version 2: a site from
 *                                         before it answers 404 too, so it is asked after a 404 for the
 *                                         recipe, and a site that holds a layer as a form still answers
 *                                         404 for its recipe, as before.
 *   GET  /dd-peer/v2/log?after=SEQ        {"entries": [ChangeEntry...], "head": SEQ}: this site's change
 *                                         log after SEQ (sites/log/change-log.ts), a page at a time
 *   GET  /dd-peer/v2/probe?bytes=N        N bytes that do not compress (MIN_PROBE_BYTES..MAX_PROBE_BYTES,
 *                                         400 otherwise), for measuring the link from this site
 *                                         (sites/fetch/link-probe.ts)
 *   GET  /dd-peer/v2/status[?image=REPO:TAG]  SiteStatus (operator-calls.ts): peers (reachable, log lag,
 *                                         link estimate) and how much of each tagged image every
 *                                         site holds; for `docker-dedup sites`
 *   POST /dd-peer/v2/replicate            body {"repository", "reference", "to"?, "digest"?}: bring the
 *                                         image (an index's children too) to site `to` (this one if
 *                                         absent; else passed on to that peer), fetching only what it
 *                                         lacks; reply: ReplicateEvent lines (plan, progress..., done or
 *                                         error) as it goes; for `docker-dedup replicate`
 *
 * Ids travel as raw bytes, never hex, and never one request per chunk.
 */
export const PEER_API_PREFIX = "/dd-peer/v2/";
export const PEER_API_VERSION = 2;
export const MISSING_CHUNK = 0xffffffff;
export const FRAME_HEADER = 4;
/** Bounds a `has` body (1 MiB of ids) and a `chunks` request (the reply is read chunk by chunk). */
export const MAX_IDS_PER_HAS = 32768;
export const MAX_IDS_PER_REQUEST = 1024;
/** Bounds a `probe` reply: enough bytes to arrive in many pieces (something to time), and few enough that one request cannot tie a link up for long. */
export const MIN_PROBE_BYTES = 64 * 1024;
export const MAX_PROBE_BYTES = 16 * 1024 * 1024;

/**
 * One change a site made or learned, as peers read it from the site's log (sites/log/):
 *  - a metadata write (`value`, base64) or delete (`value` null) under `registry/`;
 *  - `holds`: `site` holds the whole blob `holds` (its recipe, hence all its chunks).
 * `time` (ms) and `site` order writes to one key: the greater (time, site) wins everywhere.
 */
export type ChangeEntry = MetaChange | HoldsChange;

export interface MetaChange {
  seq: number;
  site: string;
  time: number;
  key: string;
  value: string | null;
}

export interface HoldsChange {
  seq: number;
  site: string;
  time: number;
  holds: string;
}

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

export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  header.writeUInt32BE(length, 0);
  return header;
}

/**
 * Cuts a `chunks` reply into frames as its bytes arrive: each chunk's stored form, a view of the
 * bytes received when the frame lies within one piece of them, or undefined where the sender
 * lacks the chunk. Only a frame that straddles pieces is copied, into a buffer of its own size
 * (joining every piece to the rest of the last one would copy every byte, and allocate as much
 * outside the JS heap, which V8 pays for in full garbage collections).
 */
export async function* readFrames(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer | undefined> {
  const header = Buffer.alloc(FRAME_HEADER);
  let headerBytes = 0;
  /** A frame being filled from several pieces, and how much of it has come. */
  let frame: Buffer | undefined;
  let frameBytes = 0;
  for await (const piece of body) {
    let at = 0;
    while (at < piece.length) {
      if (frame !== undefined) {
        const taken = piece.copy(frame, frameBytes, at, Math.min(piece.length, at + frame.length - frameBytes));
        frameBytes += taken;
        at += taken;
        if (frameBytes < frame.length) break;
        yield frame;
        frame = undefined;
        continue;
      }
      let length: number;
      if (headerBytes === 0 && piece.length - at >= FRAME_HEADER) {
        length = piece.readUInt32BE(at);
        at += FRAME_HEADER;
      } else {
        const taken = piece.copy(header, headerBytes, at, Math.min(piece.length, at + FRAME_HEADER - headerBytes));
        headerBytes += taken;
        at += taken;
        if (headerBytes < FRAME_HEADER) break;
        length = header.readUInt32BE(0);
        headerBytes = 0;
      }
      if (length === MISSING_CHUNK) {
        yield undefined;
      } else if (piece.length - at >= length) {
        yield piece.subarray(at, at + length);
        at += length;
      } else {
        frame = Buffer.allocUnsafe(length);
        frameBytes = 0;
      }
    }
  }
  const left = frame !== undefined ? FRAME_HEADER + frameBytes : headerBytes;
  if (left > 0) throw new DedupError("CHUNK_MISSING", `a chunks reply ended inside a frame (${left} bytes left over)`);
}
