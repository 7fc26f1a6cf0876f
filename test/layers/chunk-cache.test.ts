import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { openStore } from "../../src/store/open.js";
import { readBack } from "../blobs.js";
import { fromPieces, randomBytes, tempDir } from "../helpers.js";

/** The chunk cache's hits and misses (serve's chunk_cache metrics): each chunk a read wants counts once, found or not. */

test("a cold read counts a miss per chunk, a warm one a hit per chunk", async (t) => {
  const store = await openStore(join(await tempDir(t), "store"), { create: true });
  const writer = new BlobService(store, new BlobParts({ chunkCacheBytes: 0 }));
  const parts = new BlobParts({ chunkCacheBytes: 64 << 20 });
  const reader = new BlobService(store, parts);
  t.after(async () => {
    await writer.close();
    await reader.close();
    await parts.close();
    await store.close();
  });
  const blob = randomBytes(500_000, 71);
  const { digest } = await writer.ingest(fromPieces([blob]));
  const chunks = (await store.getRecipe(digest))!.ids.length;
  assert.ok(chunks > 1);
  assert.ok((await readBack(reader, digest)).equals(blob));
  assert.deepEqual({ hits: parts.cache.hits, misses: parts.cache.misses }, { hits: 0, misses: chunks }, "read and decoded: one miss each, not one per look");
  assert.ok((await readBack(reader, digest)).equals(blob));
  assert.deepEqual({ hits: parts.cache.hits, misses: parts.cache.misses }, { hits: chunks, misses: chunks });
});
