import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeRecipe, encodeRecipe, type Recipe } from "../../src/store/recipe.js";

/** The recipe record's seal: what makes a recipe read back from a store proven (store/recipe.ts). */

const digest = `sha256:${"ab".repeat(32)}`;
const recipe: Recipe = { digest, size: 300, ids: [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 1)], lengths: Uint32Array.from([100, 150, 50]) };

test("a recipe read back intact is proven, and equal to what was written", () => {
  const back = decodeRecipe(digest, encodeRecipe(recipe));
  assert.deepEqual(back, { ...recipe, proven: true });
});

test("a damaged record, or one stored under another digest, is refused", () => {
  const bytes = encodeRecipe(recipe);
  for (const at of [5, 16, 16 + 32 + 3, bytes.length - 1]) {
    const damaged = Buffer.from(bytes);
    damaged[at]! ^= 0x10;
    assert.throws(() => decodeRecipe(digest, damaged), { code: "STORE_INVALID" }, `byte ${at} flipped`);
  }
  assert.throws(() => decodeRecipe(`sha256:${"cd".repeat(32)}`, bytes), { code: "STORE_INVALID" });
  assert.throws(() => decodeRecipe(digest, bytes.subarray(0, bytes.length - 1)), { code: "STORE_INVALID" });
});

test("a version-1 record (no seal: older stores, and what sites send each other) is still read, as unproven", () => {
  const sealed = encodeRecipe(recipe);
  const v1 = Buffer.from(sealed.subarray(0, sealed.length - 32));
  v1[3] = 1;
  assert.deepEqual(encodeRecipe(recipe, { sealed: false }), v1);
  assert.deepEqual(decodeRecipe(digest, v1), { ...recipe, proven: false });
});
