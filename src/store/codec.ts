import { createRequire } from "node:module";
import { Decompressor } from "zstd-napi";
import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "./chunk-id.js";

/**
 * The stored form of a chunk: one codec byte, then the payload. Chunks that do not shrink are
 * kept raw, so already-compressed content costs one byte, not a wasted decompression.
 *
 * A chunk may also be a *slice* of a run (runs.ts): a run is a chunk of its own, the new chunks
 * of one read batch laid end to end and compressed as one, so that zstd sees up to 4 MiB of
 * context instead of 16 KiB; a slice names it and says where in it the chunk lies:
 *
 *   slice := 2 | run id (32 bytes) | offset u32 BE | length u32 BE
 *
 * Runs are written at the store's level, for pushes' sake, and compressed again later at a
 * deeper one; codec byte 3 marks such a settled form (zstd, decoded like 1).
 * zstd-napi reuses one compression context per level and one decompression context, which
 * makes it 2-3x faster per chunk than the packages that build a context per call (BENCHMARKS.md).
 */
export interface Compression {
  codec: "zstd" | "none";
  level: number;
}

export const DEFAULT_COMPRESSION: Compression = Object.freeze({ codec: "zstd", level: 3 });
export const NO_COMPRESSION: Compression = Object.freeze({ codec: "none", level: 0 });

const RAW = 0;
const ZSTD = 1;
const SLICE = 2;
/** zstd as well, compressed again at a deeper level once written (layers/settle.ts): not to be compressed again. */
const ZSTD_SETTLED = 3;

/** The length of a slice's stored form. */
export const SLICE_BYTES = 1 + CHUNK_ID_BYTES + 8;

/** Where a chunk stored as a slice lies: `length` bytes at `offset` of the run `run`. */
export interface Slice {
  run: ChunkId;
  offset: number;
  length: number;
}

/** A chunk is stored compressed only if that saves at least this fraction of it. */
const MIN_SAVING = 1 / 32;

let decompressor: Decompressor | undefined;

/** A chunk's stored form, in a buffer of its own. */
export function encodeChunk(raw: Uint8Array, compression: Compression): Buffer {
  const out = Buffer.allocUnsafe(encodedBound(raw.length));
  return Buffer.from(out.subarray(0, encodeChunkInto(raw, compression, out, 0)));
}

/** The most bytes `encodeChunkInto` may write for a chunk of `length` bytes. */
export function encodedBound(length: number): number {
  return 1 + Math.max(length, zstdBinding.compressBound(length));
}

/**
 * A chunk's stored form written into `out` at `at` (room for `encodedBound(raw.length)` bytes),
 * without allocating: compressed straight into place. Returns the stored form's length.
 */
function encodeChunkInto(raw: Uint8Array, compression: Compression, out: Uint8Array, at: number): number {
  if (compression.codec === "zstd" && raw.length >= 64) {
    const packed = contextFor(compression.level).compress2(out.subarray(at + 1, at + encodedBound(raw.length)), raw);
    if (packed + 1 <= raw.length * (1 - MIN_SAVING)) {
      out[at] = ZSTD;
      return packed + 1;
    }
  }
  out[at] = RAW;
  out.set(raw, at + 1);
  return raw.length + 1;
}

/** Chunks' stored forms written back to back into `out` (room for their `encodedBound`s): views of it, in order. */
export function encodeChunksInto(chunks: readonly Uint8Array[], compression: Compression, out: Buffer): Buffer[] {
  let at = 0;
  return chunks.map((chunk) => {
    const length = encodeChunkInto(chunk, compression, out, at);
    return out.subarray(at, (at += length));
  });
}

/** A slice's stored form. */
export function encodeSlice({ run, offset, length }: Slice): Buffer {
  const out = Buffer.allocUnsafe(SLICE_BYTES);
  out[0] = SLICE;
  run.copy(out, 1);
  out.writeUInt32BE(offset, 1 + CHUNK_ID_BYTES);
  out.writeUInt32BE(length, 5 + CHUNK_ID_BYTES);
  return out;
}

/** The slice a stored form names, or undefined if it is not a slice. */
export function sliceOf(stored: Uint8Array): Slice | undefined {
  if (stored[0] !== SLICE || stored.length !== SLICE_BYTES) return undefined;
  const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
  return { run: bytes.subarray(1, 1 + CHUNK_ID_BYTES), offset: bytes.readUInt32BE(1 + CHUNK_ID_BYTES), length: bytes.readUInt32BE(5 + CHUNK_ID_BYTES) };
}

/** A chunk's plain bytes from its stored form (not a slice: runs.ts resolves those). */
export function decodeChunk(stored: Uint8Array): Buffer {
  const payload = Buffer.from(stored.buffer, stored.byteOffset + 1, stored.byteLength - 1);
  switch (stored[0]) {
    case RAW:
      return payload;
    case ZSTD:
    case ZSTD_SETTLED:
      decompressor ??= new Decompressor();
      return decompressor.decompress(payload);
    case SLICE:
      throw new DedupError("STORE_INVALID", "a slice of a run cannot be decoded alone");
    default:
      throw new DedupError("STORE_INVALID", `chunk has unknown codec byte ${stored[0]}`);
  }
}

/**
 * Decodes a stored chunk straight into `out` at `at`, where exactly `length` plain bytes are
 * expected (a recipe says how long each chunk is): no buffer of its own per chunk. Returns the
 * plain length, or -1 when the chunk does not decode to `length` bytes.
 */
export function decodeChunkInto(stored: Uint8Array, out: Uint8Array, at: number, length: number): number {
  const payload = stored.subarray(1);
  switch (stored[0]) {
    case RAW:
      if (payload.length !== length) return -1;
      out.set(payload, at);
      return length;
    case ZSTD:
    case ZSTD_SETTLED: {
      decompressionContext ??= new zstdBinding.DCtx();
      let plain: number;
      try {
        plain = decompressionContext.decompress(out.subarray(at, at + length), payload);
      } catch {
        return -1; // damaged, or longer than `length`
      }
      return plain === length ? length : -1;
    }
    default:
      return -1;
  }
}

/** Whether a stored form is zstd at the level it was written at, not settled yet. */
export function isUnsettled(stored: Uint8Array): boolean {
  return stored[0] === ZSTD;
}

/** A stored form marked settled: zstd compressed again at a deeper level, or found not worth it (a copy). */
export function markedSettled(stored: Uint8Array): Buffer {
  const out = Buffer.from(stored);
  if (out[0] === ZSTD) out[0] = ZSTD_SETTLED;
  return out;
}

/** The plain length a stored form (not a slice) decodes to, if it says; undefined if it does not, or is damaged. */
export function plainLength(stored: Uint8Array): number | undefined {
  if (stored[0] === RAW) return stored.length - 1;
  if (stored[0] !== ZSTD && stored[0] !== ZSTD_SETTLED) return undefined;
  try {
    return zstdBinding.getFrameContentSize(stored.subarray(1)) ?? undefined;
  } catch {
    return undefined;
  }
}

type ZstdBinding = typeof import("zstd-napi/binding.js");
/** zstd-napi's native binding: its contexts compress into a buffer the caller gives. */
const zstdBinding = createRequire(import.meta.url)("zstd-napi/binding.js") as ZstdBinding;
let decompressionContext: InstanceType<ZstdBinding["DCtx"]> | undefined;
const contexts = new Map<number, InstanceType<ZstdBinding["CCtx"]>>();

function contextFor(level: number): InstanceType<ZstdBinding["CCtx"]> {
  let context = contexts.get(level);
  if (context === undefined) {
    context = new zstdBinding.CCtx();
    context.setParameter(zstdBinding.CParameter.compressionLevel, level);
    contexts.set(level, context);
  }
  return context;
}
