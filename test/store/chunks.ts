import { chunkIdOf } from "../../src/store/chunk-id.js";
import { encodeChunk } from "../../src/store/codec.js";
import type { StoredChunk } from "../../src/store/types.js";
import { randomBytes } from "../helpers.js";

/** Chunks of 4-12 KiB that zstd shrinks by about half, like layer data. */
export function layerLikeChunks(count: number, seed: number): StoredChunk[] {
  return Array.from({ length: count }, (_, i) => {
    const size = 4096 + ((i * 7919 + seed) % 8192);
    const plain = Buffer.concat([randomBytes(size >> 1, seed * 100_000 + i), Buffer.alloc(size - (size >> 1), i & 0xff)]);
    return { id: chunkIdOf(plain), data: encodeChunk(plain, { codec: "zstd", level: 3 }) };
  });
}
