import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import { DedupError } from "../errors.js";
import { xxh64Hex } from "./xxhash64.js";

/*
 * The values of a docker_dedup (seed) database, one flat keyspace without prefixes
 * (shared/research/seed-origins.md, section 2):
 *  - chunk: key = hex digest of the chunk's bytes (xxhash64, md5 or sha256); value = the bytes,
 *    zlib-compressed when the seed ran with compression_level > 0;
 *  - layer: key = the layer's sha256 hex; value = `'|'.join(length_list) + ':' + ''.join(keys)`.
 *    length_list holds binary struct.pack("I") sums (and, on the seed's master branch, an
 *    image_type flag first), so everything before the LAST ':' is junk that may contain ':' or '|';
 *    the chunk keys after it, in order and with repeats, are all that rebuilds the layer.
 */

/** Hex digits of a chunk key, in the order they are tried: md5 (the seed's default), xxhash64, sha256. */
export const CHUNK_KEY_LENGTHS = [32, 16, 64] as const;
export type ChunkKeyLength = (typeof CHUNK_KEY_LENGTHS)[number];

/**
 * How much of a value's end tells a layer recipe from a chunk without reading all of it: a ':'
 * followed by a whole number of 16-hex keys, or (a longer key list) nothing but hex.
 */
export const RECIPE_TAIL_BYTES = 65;

/** A zlib value inflating past this is no chunk: the seed's chunker was set to at most 64 KiB (this leaves room for other settings). */
const MAX_CHUNK_BYTES = 16 << 20;

const COLON = 0x3a;

/** The concatenated chunk keys of a layer recipe value; undefined if the value is not one. */
export function recipeKeys(value: Buffer): string | undefined {
  const colon = value.lastIndexOf(COLON);
  if (colon < 0) return undefined;
  const keys = value.subarray(colon + 1);
  if (keys.length === 0 || keys.length % 16 !== 0 || !isHex(keys)) return undefined;
  return keys.toString("latin1");
}

/** Whether a value ending in `tail` (its last RECIPE_TAIL_BYTES bytes, or all of a shorter one) may be a layer recipe. */
export function mayBeRecipe(tail: Buffer): boolean {
  return (tail.length === RECIPE_TAIL_BYTES && isHex(tail)) || recipeKeys(tail) !== undefined;
}

/** The chunk key lengths a recipe's key list can be cut into. */
export function keyLengthsFitting(keys: string): ChunkKeyLength[] {
  return CHUNK_KEY_LENGTHS.filter((length) => keys.length % length === 0);
}

/** The chunk keys from the `start`th to before the `end`th (or the last) of a recipe's key list. */
export function sliceKeys(chunkKeys: string, keyLength: ChunkKeyLength, start: number, end: number): string[] {
  const keys: string[] = [];
  for (let at = start * keyLength, stop = Math.min(chunkKeys.length, end * keyLength); at < stop; at += keyLength) {
    keys.push(chunkKeys.slice(at, at + keyLength));
  }
  return keys;
}

/**
 * The plain bytes of the chunk stored under `key`: the value itself if it hashes to the key, or
 * its zlib inflation if that does. Anything else is corrupt.
 */
export function decodeChunk(key: string, value: Buffer): Buffer {
  const plain = plainChunk(key, value);
  if (plain === undefined) {
    throw new DedupError("CHUNK_CORRUPT", `chunk ${key} is corrupt: neither its ${value.length} bytes nor their zlib inflation hash to its key`, { key });
  }
  return plain;
}

/** Whether `value` is the chunk named `key` (a sha256 chunk, not a recipe that only looks like one). */
export function isChunkOf(key: string, value: Buffer): boolean {
  return plainChunk(key, value) !== undefined;
}

function plainChunk(key: string, value: Buffer): Buffer | undefined {
  // A seed compressed all its chunks or none: try the form the value looks like first, so each
  // chunk is usually hashed once (xxh64 in JavaScript is slower than the rest of the import).
  if (hasZlibHeader(value)) {
    const inflated = inflate(value);
    if (inflated !== undefined && hexDigest(key.length, inflated) === key) return inflated;
  }
  return hexDigest(key.length, value) === key ? value : undefined;
}

/** RFC 1950: deflate with a window of at most 32 KiB, and a header that is a multiple of 31. No other value inflates. */
function hasZlibHeader(value: Buffer): boolean {
  return value.length >= 2 && (value[0]! & 0x0f) === 8 && value[0]! >> 4 <= 7 && ((value[0]! << 8) | value[1]!) % 31 === 0;
}

function inflate(value: Buffer): Buffer | undefined {
  try {
    return inflateSync(value, { maxOutputLength: MAX_CHUNK_BYTES });
  } catch {
    return undefined;
  }
}

/** The seed's hash of a chunk, told by its key's length (storage/hasher.py). */
function hexDigest(keyLength: number, bytes: Uint8Array): string {
  switch (keyLength) {
    case 16:
      return xxh64Hex(bytes);
    case 32:
      return createHash("md5").update(bytes).digest("hex");
    case 64:
      return createHash("sha256").update(bytes).digest("hex");
    default:
      throw new RangeError(`no seed hash has ${keyLength} hex digits`);
  }
}

/** Lowercase hex only, as Python's hexdigest() writes it. */
function isHex(bytes: Uint8Array): boolean {
  for (const byte of bytes) {
    if (!((byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66))) return false;
  }
  return true;
}
