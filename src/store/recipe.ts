import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "./chunk-id.js";

/**
 * A recipe rebuilds one blob: its digest, its size and its chunks in order (a chunk may appear
 * several times). Lengths are recorded so that byte ranges can be served and transfers weighed
 * in bytes without reading any chunk.
 *
 * Binary form (big-endian), version 1:
 *   "DDR" 0x01 | size u64 | count u32 | count x (chunk id 32 bytes | length u32)
 */
export interface Recipe {
  digest: string;
  size: number;
  ids: ChunkId[];
  lengths: Uint32Array;
}

const MAGIC = 0x44445201; // "DDR" + version 1
const HEADER = 16;
const ENTRY = CHUNK_ID_BYTES + 4;

export function encodeRecipe(recipe: Recipe): Buffer {
  const count = recipe.ids.length;
  const out = Buffer.allocUnsafe(HEADER + count * ENTRY);
  out.writeUInt32BE(MAGIC, 0);
  out.writeBigUInt64BE(BigInt(recipe.size), 4);
  out.writeUInt32BE(count, 12);
  for (let i = 0; i < count; i++) {
    const at = HEADER + i * ENTRY;
    recipe.ids[i]!.copy(out, at);
    out.writeUInt32BE(recipe.lengths[i]!, at + CHUNK_ID_BYTES);
  }
  return out;
}

export function decodeRecipe(digest: string, bytes: Uint8Array): Recipe {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER || buf.readUInt32BE(0) !== MAGIC) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} is not in a known format`, { digest });
  }
  const size = Number(buf.readBigUInt64BE(4));
  const count = buf.readUInt32BE(12);
  if (buf.length !== HEADER + count * ENTRY) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} is truncated`, { digest });
  }
  const ids: ChunkId[] = new Array(count);
  const lengths = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const at = HEADER + i * ENTRY;
    ids[i] = Buffer.from(buf.subarray(at, at + CHUNK_ID_BYTES));
    lengths[i] = buf.readUInt32BE(at + CHUNK_ID_BYTES);
    total += lengths[i]!;
  }
  if (total !== size) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} lists ${total} bytes of chunks for a ${size}-byte blob`, { digest });
  }
  return { digest, size, ids, lengths };
}

/** The distinct chunks of some recipes, in order of first use (a chunk may occur many times), with their plain lengths. */
export function distinctChunks(recipes: readonly Recipe[]): { ids: ChunkId[]; lengths: number[] } {
  const seen = new Set<string>();
  const ids: ChunkId[] = [];
  const lengths: number[] = [];
  for (const recipe of recipes) {
    recipe.ids.forEach((id, i) => {
      const key = id.toString("latin1");
      if (seen.has(key)) return;
      seen.add(key);
      ids.push(id);
      lengths.push(recipe.lengths[i]!);
    });
  }
  return { ids, lengths };
}
