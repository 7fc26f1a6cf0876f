import { Compressor, Decompressor } from "zstd-napi";
import { DedupError } from "../errors.js";

/**
 * The stored form of a chunk: one codec byte, then the payload. Chunks that do not shrink are
 * kept raw, so already-compressed content costs one byte, not a wasted decompression.
 * zstd-napi reuses one compression context per level and one decompression context, which
 * makes it 2-3x faster per chunk than the packages that build a context per call (BENCHMARKS.md).
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

const compressors = new Map<number, Compressor>();
let decompressor: Decompressor | undefined;

export function encodeChunk(raw: Uint8Array, compression: Compression): Buffer {
  if (compression.codec === "zstd" && raw.length >= 64) {
    const packed = compressorFor(compression.level).compress(raw);
    if (packed.length + 1 <= raw.length * (1 - MIN_SAVING)) return withCodec(ZSTD, packed);
  }
  return withCodec(RAW, raw);
}

export function decodeChunk(stored: Uint8Array): Buffer {
  const payload = Buffer.from(stored.buffer, stored.byteOffset + 1, stored.byteLength - 1);
  switch (stored[0]) {
    case RAW:
      return payload;
    case ZSTD:
      decompressor ??= new Decompressor();
      return decompressor.decompress(payload);
    default:
      throw new DedupError("STORE_INVALID", `chunk has unknown codec byte ${stored[0]}`);
  }
}

/** Whether a stored chunk is kept raw, so that decoding it is a view, not work. */
export function isRawStored(stored: Uint8Array): boolean {
  return stored[0] === RAW;
}

function compressorFor(level: number): Compressor {
  let compressor = compressors.get(level);
  if (compressor === undefined) {
    compressor = new Compressor();
    compressor.setParameters({ compressionLevel: level });
    compressors.set(level, compressor);
  }
  return compressor;
}

function withCodec(codec: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = codec;
  out.set(payload, 1);
  return out;
}
