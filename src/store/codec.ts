import { compress, decompress } from "@mongodb-js/zstd";
import { DedupError } from "../errors.js";

/**
 * The stored form of a chunk: one codec byte, then the payload. Chunks that do not shrink are
 * kept raw, so already-compressed content costs one byte, not a wasted decompression.
 * zstd runs on libuv's thread pool, so it overlaps with the chunking and hashing on the main thread.
 */
export interface Compression {
  codec: "zstd" | "none";
  level: number;
}

export const DEFAULT_COMPRESSION: Compression = Object.freeze({ codec: "zstd", level: 3 });

const RAW = 0;
const ZSTD = 1;

/** A chunk is stored compressed only if that saves at least this fraction of it. */
const MIN_SAVING = 1 / 32;

export async function encodeChunk(raw: Uint8Array, compression: Compression): Promise<Buffer> {
  if (compression.codec === "zstd" && raw.length >= 64) {
    const packed = await compress(raw as Buffer, compression.level);
    if (packed.length + 1 <= raw.length * (1 - MIN_SAVING)) return withCodec(ZSTD, packed);
  }
  return withCodec(RAW, raw);
}

export async function decodeChunk(stored: Uint8Array): Promise<Buffer> {
  const payload = Buffer.from(stored.buffer, stored.byteOffset + 1, stored.byteLength - 1);
  switch (stored[0]) {
    case RAW:
      return payload;
    case ZSTD:
      return decompress(payload);
    default:
      throw new DedupError("STORE_INVALID", `chunk has unknown codec byte ${stored[0]}`);
  }
}

function withCodec(codec: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = codec;
  out.set(payload, 1);
  return out;
}
