import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { BlobParts } from "../../src/layers/blob-service.js";
import { readBlob } from "../../src/layers/reconstruct.js";
import { freshBlobs, readBack } from "../blobs.js";
import { fromPieces, randomBytes, randomPieces } from "../helpers.js";

const digestOf = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

test("ingest then read gives the blob back byte for byte", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const block = randomBytes(400_000, 8);
  const blob = Buffer.concat([block, randomBytes(1_000_000, 2), block, Buffer.alloc(300_000), block]);
  const result = await blobs.ingest(fromPieces(randomPieces(blob, 70_000)));
  assert.equal(result.digest, digestOf(blob));
  assert.equal(result.size, blob.length);
  assert.ok(result.newBytes < blob.length - 600_000, "repeated blocks are stored once");
  assert.ok((await readBack(blobs, result.digest)).equals(blob));
});

test("a second blob sharing content stores only what is new", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const base = randomBytes(2_000_000, 4);
  await blobs.ingest(fromPieces([base]));
  const edited = Buffer.concat([base.subarray(0, 1_000_000), Buffer.from("a small change"), base.subarray(1_000_000)]);
  const second = await blobs.ingest(fromPieces([edited]));
  assert.ok(second.newBytes < 200_000, `new bytes: ${second.newBytes}`);
  assert.ok((await readBack(blobs, second.digest)).equals(edited));
});

test("every byte range reads back exactly", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const blob = randomBytes(300_000, 6);
  const { digest } = await blobs.ingest(fromPieces([blob]));
  const recipe = (await store.getRecipe(digest))!;
  const boundaries = [0];
  for (const length of recipe.lengths) boundaries.push(boundaries.at(-1)! + length);
  const points = [...new Set(boundaries.flatMap((b) => [b - 1, b, b + 1]).filter((p) => p >= 0 && p < blob.length))];
  for (const start of points) {
    for (const end of points.filter((p) => p >= start).slice(0, 6)) {
      const got = await readBack(blobs, digest, { start, end });
      assert.ok(got.equals(blob.subarray(start, end + 1)), `range ${start}-${end}`);
    }
  }
  await assert.rejects(readBack(blobs, digest, { start: 10, end: blob.length }), { code: "RANGE_INVALID" });
  await assert.rejects(readBack(blobs, digest, { start: 10, end: 5 }), { code: "RANGE_INVALID" });
});

test("a stated digest that does not match refuses the blob", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const blob = randomBytes(100_000, 1);
  const wrong = digestOf(Buffer.from("something else"));
  await assert.rejects(blobs.ingest(fromPieces([blob]), { expectedDigest: wrong }), { code: "DIGEST_MISMATCH" });
  assert.equal(await store.getRecipe(digestOf(blob)), undefined);
  assert.equal(await store.getRecipe(wrong), undefined);
  await assert.rejects(blobs.ingest(fromPieces([blob]), { expectedDigest: "sha256:nothex" }), { code: "DIGEST_INVALID" });
});

test("empty blobs, gzip blobs and configs are stored like any other", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  for (const blob of [Buffer.alloc(0), gzipSync(randomBytes(500_000, 3)), Buffer.from('{"architecture":"amd64"}')]) {
    const { digest } = await blobs.ingest(fromPieces([blob]), { expectedDigest: digestOf(blob) });
    assert.ok((await readBack(blobs, digest)).equals(blob));
  }
});

test("a damaged chunk fails the read instead of serving wrong bytes", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const blob = randomBytes(200_000, 12);
  const { digest } = await blobs.ingest(fromPieces([blob]));
  const recipe = (await store.getRecipe(digest))!;
  const other = await blobs.ingest(fromPieces([randomBytes(30_000, 13)]));
  const otherRecipe = (await store.getRecipe(other.digest))!;
  // A recipe naming the wrong chunk stands for a store damaged outside our control.
  const damaged = { ...recipe, ids: [otherRecipe.ids[0]!, ...recipe.ids.slice(1)] };
  await store.putRecipe(damaged);
  await assert.rejects(readBack(blobs, digest), { code: "CHUNK_CORRUPT" });
  await assert.rejects(readBack(blobs, digest, { start: 0, end: 10 }), { code: "CHUNK_CORRUPT" });
});

test("concurrent ingests sharing content write each chunk once", async (t) => {
  const { blobs: service } = await freshBlobs(t);
  const shared = randomBytes(3_000_000, 21);
  const blobs = [0, 1, 2, 3].map((i) => Buffer.concat([shared, randomBytes(100_000, 30 + i)]));
  const results = await Promise.all(blobs.map((blob) => service.ingest(fromPieces(randomPieces(blob, 200_000, blob.length)))));
  const written = results.reduce((sum, r) => sum + r.newBytes, 0);
  assert.ok(written < shared.length + 4 * 100_000 + 4 * 70_000, `wrote ${written} bytes for ${shared.length + 400_000} distinct`);
  for (const [i, r] of results.entries()) {
    assert.ok((await readBack(service, r.digest)).equals(blobs[i]!));
  }
});

test("chunks of a compressed blob are stored as they are, found by magic bytes", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const gzip = gzipSync(Buffer.concat([randomBytes(200_000, 1), Buffer.alloc(400_000, 7)]));
  const { digest } = await blobs.ingest(fromPieces([gzip]));
  const recipe = (await store.getRecipe(digest))!;
  const stored = await store.getChunks(recipe.ids);
  assert.ok(stored.every((data) => data![0] === 0), "codec byte 0 (raw) for every chunk");
  assert.ok((await readBack(blobs, digest)).equals(gzip));
});

test("an unproven recipe naming intact chunks in the wrong order fails a whole read, its last bytes held back", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const blob = Buffer.concat([randomBytes(100_000, 14), randomBytes(100_000, 15)]);
  const { digest } = await blobs.ingest(fromPieces([blob]));
  const recipe = (await store.getRecipe(digest))!;
  assert.equal(recipe.proven, true, "read back from the store, sealed");
  assert.ok(recipe.ids.length > 2);
  // Such a recipe is what a damaged peer could send: every chunk checks against its id, the blob does not.
  const swapped = { ...recipe, proven: false, ids: [...recipe.ids].reverse(), lengths: Uint32Array.from(recipe.lengths).reverse() };
  const parts = new BlobParts({ chunkCacheBytes: 0 });
  t.after(() => parts.close());
  const out: Buffer[] = [];
  await assert.rejects(
    (async () => {
      for await (const piece of readBlob(store, swapped, undefined, parts)) out.push(piece);
    })(),
    { code: "CHUNK_CORRUPT" },
  );
  assert.ok(Buffer.concat(out).length < blob.length, "the stream ends short of the whole");
  assert.ok((await readBack(blobs, digest)).equals(blob), "the proven recipe reads back");
});
