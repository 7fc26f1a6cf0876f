import type { Reply } from "./connection.js";

/**
 * Chunk index entries, the values of P:c:<id>:
 *
 *   16 bytes  pack id (8) | offset u32 | length u32, big-endian    a live chunk
 *   24 bytes  the same | doomed at (u64 ms since the epoch)          a doomed chunk (still read)
 *    9 bytes  "?" + writer token (8), expiring                        a writer's claim
 *
 * Lengths tell the kinds apart, so an old reader that only knows live entries and claims takes a
 * doomed entry for someone else's claim, never for a location.
 */
export const PACK_ID_BYTES = 8;
export const LOCATION_BYTES = 16;
export const DOOMED_BYTES = LOCATION_BYTES + 8;

export interface Location {
  pack: Buffer;
  offset: number;
  length: number;
}

export function encodeLocation(at: Location): Buffer {
  const out = Buffer.allocUnsafe(LOCATION_BYTES);
  at.pack.copy(out, 0);
  out.writeUInt32BE(at.offset, PACK_ID_BYTES);
  out.writeUInt32BE(at.length, PACK_ID_BYTES + 4);
  return out;
}

/** The location in an entry, live or doomed; undefined for a missing chunk or a claim. */
export function decodeLocation(entry: Reply): Location | undefined {
  if (!isLocation(entry)) return undefined;
  return { pack: entry.subarray(0, PACK_ID_BYTES), offset: entry.readUInt32BE(PACK_ID_BYTES), length: entry.readUInt32BE(PACK_ID_BYTES + 4) };
}

/** Whether an entry holds a location (live or doomed). */
export function isLocation(entry: Reply): entry is Buffer {
  return Buffer.isBuffer(entry) && (entry.length === LOCATION_BYTES || entry.length === DOOMED_BYTES);
}

/** When a doomed entry was doomed; undefined for any other. */
export function doomedAt(entry: Buffer): number | undefined {
  return entry.length === DOOMED_BYTES ? Number(entry.readBigUInt64BE(LOCATION_BYTES)) : undefined;
}

/** A time as a doomed entry carries it. */
export function encodeTime(ms: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(ms))));
  return out;
}
