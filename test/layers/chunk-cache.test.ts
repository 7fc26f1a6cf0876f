import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { ChunkCache } from "../../src/layers/chunk-cache.js";
import { openStore } from "../../src/store/open.js";
import { readBack } from "../blobs.js";
import { fromPieces, randomBytes, tempDir } from "../helpers.js";

/**
 * The chunk cache's hits and misses (serve's chunk_cache metrics): each chunk a read wants counts
 * once, found or not; and its bound.
 */

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

test("a full cache takes a chunk only if it was asked for more often than the least recently used one it would push out", () => {
  const cache = new ChunkCache(100);
  const id = (n: number) => Buffer.alloc(32, n);
  cache.put(id(1), Buffer.alloc(40));
  cache.put(id(2), Buffer.alloc(40));
  assert.ok(cache.getAgain(id(1)) !== undefined, "chunk 1 is now the most recently used");
  assert.equal(cache.get(id(3)), undefined);
  assert.equal(cache.get(id(3)), undefined);
  cache.put(id(3), Buffer.alloc(30));
  assert.equal(cache.bytes, 70, "chunk 3, asked for twice, pushed out chunk 2, never asked for");
  assert.equal(cache.getAgain(id(2)), undefined);
  cache.put(id(4), Buffer.alloc(30));
  assert.equal(cache.bytes, 100, "there was room");
  cache.put(id(5), Buffer.alloc(10));
  assert.equal(cache.getAgain(id(5)), undefined, "asked for no more often than chunk 1, which it would push out: not kept");
  cache.put(id(6), Buffer.alloc(101));
  assert.equal(cache.bytes, 100, "a chunk larger than the whole cache is not kept");
});

test("reads sweeping again and again over more than the cache holds find a steady share of it (plain LRU would find none)", () => {
  const chunk = 10;
  const cache = new ChunkCache(10 * chunk);
  const ids = Array.from({ length: 20 }, (_, n) => Buffer.alloc(32, n + 1));
  const hitsPerSweep: number[] = [];
  for (let sweep = 0; sweep < 5; sweep++) {
    const before = cache.hits;
    for (const id of ids) if (cache.get(id) === undefined) cache.put(id, Buffer.alloc(chunk));
    hitsPerSweep.push(cache.hits - before);
    assert.ok(cache.bytes <= 10 * chunk);
  }
  assert.equal(hitsPerSweep[0], 0);
  for (const hits of hitsPerSweep.slice(1)) assert.equal(hits, 10, `hits per sweep: ${hitsPerSweep.join(", ")}`);
});

test("many reads at once of blobs larger than the cache: each reads back whole, and the cache ends within its capacity", async (t) => {
  const store = await openStore(join(await tempDir(t), "store"), { create: true });
  const parts = new BlobParts({ chunkCacheBytes: 1 << 20 });
  const blobs = new BlobService(store, parts);
  t.after(async () => {
    await blobs.close();
    await parts.close();
    await store.close();
  });
  const data = Array.from({ length: 6 }, (_, i) => randomBytes(700_000, 80 + i));
  const digests = [];
  for (const blob of data) digests.push((await blobs.ingest(fromPieces([blob]))).digest);
  const read = await Promise.all(digests.map((digest) => readBack(blobs, digest)));
  read.forEach((bytes, i) => assert.ok(bytes.equals(data[i]!), `blob ${i}`));
  assert.ok(parts.cache.bytes <= 1 << 20, `${parts.cache.bytes} bytes cached`);
});

test("chunks put together are kept back to back in one buffer, and leave together", () => {
  const cache = new ChunkCache(100);
  const id = (n: number) => Buffer.alloc(32, n);
  cache.putAll([id(1), id(2), id(1)], [Buffer.alloc(30, 1), Buffer.alloc(20, 2), Buffer.alloc(30, 1)]);
  assert.equal(cache.bytes, 50, "a chunk twice in one batch is kept once");
  const one = cache.getAgain(id(1))!;
  const two = cache.getAgain(id(2))!;
  assert.equal(one.buffer, two.buffer);
  assert.equal(one.byteOffset + one.length, two.byteOffset, "back to back");
  cache.get(id(3));
  cache.get(id(3));
  cache.put(id(3), Buffer.alloc(60, 3));
  assert.equal(cache.bytes, 60, "chunk 3 pushed out the group of chunks 1 and 2");
  assert.equal(cache.getAgain(id(1)), undefined);
});

test("a buffer handed over is kept as it is when its chunks fill it and all are kept, else copied", () => {
  const cache = new ChunkCache(1000);
  const id = (n: number) => Buffer.alloc(32, n);
  const batch = Buffer.alloc(300, 7);
  cache.putAll([id(1), id(2)], [batch.subarray(0, 100), batch.subarray(100)], { adopt: true });
  assert.equal(cache.getAgain(id(1))!.buffer, batch.buffer, "kept, not copied");
  const partly = Buffer.alloc(300, 8);
  cache.putAll([id(3)], [partly.subarray(0, 100)], { adopt: true });
  assert.notEqual(cache.getAgain(id(3))!.buffer, partly.buffer, "the rest of the buffer is not the cache's to hold");
  const shared = Buffer.alloc(200, 9);
  cache.putAll([id(1), id(4)], [shared.subarray(0, 100), shared.subarray(100)], { adopt: true });
  assert.notEqual(cache.getAgain(id(4))!.buffer, shared.buffer, "chunk 1 was held already: only chunk 4 is kept, copied");
  assert.equal(cache.bytes, 300 + 100 + 100);
});
