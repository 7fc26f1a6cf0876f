import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { decodeChunk, isChunkOf, keyLengthsFitting, mayBeRecipe, RECIPE_TAIL_BYTES, recipeKeys } from "../../src/import/seed-format.js";
import { isDedupError } from "../../src/errors.js";
import { randomBytes } from "../helpers.js";
import { recipeValue } from "./seed-builder.js";

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

test("a recipe's chunk keys are what follows its last ':', whatever binary junk comes before", () => {
  const keys = [md5(Buffer.from("a")), md5(Buffer.from("b")), md5(Buffer.from("a"))];
  const value = recipeValue([4096, 70000, 12345], keys, "1");
  assert.ok(value.includes(Buffer.from(":|:|")));
  assert.equal(recipeKeys(value), keys.join(""));
  assert.ok(mayBeRecipe(value.subarray(-RECIPE_TAIL_BYTES)));
  const long = recipeValue([1], Array(40).fill(md5(Buffer.from("x"))));
  assert.ok(mayBeRecipe(long.subarray(-RECIPE_TAIL_BYTES)), "a tail of nothing but hex: a long key list");
});

test("values that are not recipes are told apart", () => {
  for (const text of ["", "no colon", "abc:", "x:0123456789abcdeF", "x:0123456789abcde", "x:0123456789abcdef:", "x:0123456789abcdeg"]) {
    assert.equal(recipeKeys(Buffer.from(text)), undefined, JSON.stringify(text));
    assert.equal(mayBeRecipe(Buffer.from(text)), false, JSON.stringify(text));
  }
  assert.equal(mayBeRecipe(Buffer.from("0".repeat(RECIPE_TAIL_BYTES - 1))), false, "a short value of hex and no ':'");
});

test("a recipe's key list is cut at every key length it is a multiple of", () => {
  assert.deepEqual(keyLengthsFitting("0".repeat(16)), [16]);
  assert.deepEqual(keyLengthsFitting("0".repeat(96)), [32, 16]);
  assert.deepEqual(keyLengthsFitting("0".repeat(128)), [32, 16, 64]);
});

test("a chunk is its value if that hashes to its key, else the value's zlib inflation; else it is corrupt", () => {
  const chunk = randomBytes(10_000, 3);
  assert.deepEqual(decodeChunk(md5(chunk), chunk), chunk);
  assert.deepEqual(decodeChunk(sha256(chunk), deflateSync(chunk)), chunk);
  const damaged = deflateSync(chunk);
  damaged[100]! ^= 1;
  assert.throws(() => decodeChunk(sha256(chunk), damaged), (e) => isDedupError(e, "CHUNK_CORRUPT") && e.message.includes(sha256(chunk)));
  assert.throws(() => decodeChunk(md5(chunk), chunk.subarray(1)), (e) => isDedupError(e, "CHUNK_CORRUPT"));
  // Plain bytes that start like a zlib stream are still taken as they are.
  const zlibLooking = Buffer.concat([Buffer.from([0x78, 0x9c]), chunk]);
  assert.deepEqual(decodeChunk(md5(zlibLooking), zlibLooking), zlibLooking);
  // A sha256 chunk that ends like a recipe is still a chunk.
  const lookalike = Buffer.from(`text:${md5(Buffer.from("z"))}`);
  assert.ok(mayBeRecipe(lookalike) && isChunkOf(sha256(lookalike), lookalike));
});
