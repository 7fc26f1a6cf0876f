import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "./chunk-id.js";

/**
 * A recipe rebuilds one blob: its digest, its size and its chunks in order (a chunk may appear
 * several times). Lengths are recorded so that byte ranges can be served and transfers weighed
 * in bytes without reading any chunk.
 *
 * Binary form (big-endian), version 2:
 *   "DDR" 0x02 | size u64 | count u32 | count x (chunk id 32 bytes | length u32) | seal (32 bytes)
 * where the seal is the SHA-256 of the blob's digest (as text) followed by everything before it.
 * Version 1 (no seal) is still read, as unproven.
 */
export interface Recipe {
  digest: string;
  size: number;
  ids: ChunkId[];
  lengths: Uint32Array;
  /**
   * The blob is known to be these chunks: this process made the recipe from the blob's bytes
   * (ingest, or parts whose digest it checked), or read it back from its own store intact (its
   * seal matched). A read then needs only check each chunk against its id to prove every byte it
   * serves; an unproven recipe (a peer's, or a version-1 record) is proven by hashing the whole
   * blob as it streams (layers/reconstruct.ts).
   */
  proven?: boolean;
}

const MAGIC_V1 = 0x44445201; // "DDR" + version 1
const MAGIC = 0x44445202; // "DDR" + version 2
const HEADER = 16;
const ENTRY = CHUNK_ID_BYTES + 4;
const SEAL = 32;

/**
 * A recipe's binary form: version 2, sealed, for a store; or version 1, as sites send recipes to
 * each other (a peer proves a recipe by its digest whatever it carries, and sites of the release
 * before version 2 read only version 1).
 */
export function encodeRecipe(recipe: Recipe, { sealed = true } = {}): Buffer {
  const count = recipe.ids.length;
  const body = HEADER + count * ENTRY;
  const out = Buffer.allocUnsafe(body + (sealed ? SEAL : 0));
  out.writeUInt32BE(sealed ? MAGIC : MAGIC_V1, 0);
  out.writeBigUInt64BE(BigInt(recipe.size), 4);
  out.writeUInt32BE(count, 12);
  for (let i = 0; i < count; i++) {
    const at = HEADER + i * ENTRY;
    recipe.ids[i]!.copy(out, at);
    out.writeUInt32BE(recipe.lengths[i]!, at + CHUNK_ID_BYTES);
  }
  if (sealed) sealOf(recipe.digest, out.subarray(0, body)).copy(out, body);
  return out;
}

function sealOf(digest: string, body: Uint8Array): Buffer {
  return createHash("sha256").update(digest).update(body).digest();
}

/**
 * A recipe from its binary form, stored under `digest`: proven when its seal matches (a record
 * damaged, or stored under another digest, fails here), unproven when it is a version-1 record.
 */
export function decodeRecipe(digest: string, bytes: Uint8Array): Recipe {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = buf.length < HEADER ? undefined : buf.readUInt32BE(0);
  if (magic !== MAGIC && magic !== MAGIC_V1) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} is not in a known format`, { digest });
  }
  const size = Number(buf.readBigUInt64BE(4));
  const count = buf.readUInt32BE(12);
  const body = HEADER + count * ENTRY;
  if (buf.length !== body + (magic === MAGIC ? SEAL : 0)) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} is truncated`, { digest });
  }
  if (magic === MAGIC && !sealOf(digest, buf.subarray(0, body)).equals(buf.subarray(body))) {
    throw new DedupError("STORE_INVALID", `recipe of ${digest} is damaged (its seal does not match)`, { digest });
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
  return { digest, size, ids, lengths, proven: magic === MAGIC };
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
