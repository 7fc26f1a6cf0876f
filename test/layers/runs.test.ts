import assert from "node:assert/strict";
import { test } from "node:test";
import { chunkIdOf } from "../../src/store/chunk-id.js";
import { decodeChunk, encodeChunk, plainLength, sliceOf } from "../../src/store/codec.js";
import { chunksApart } from "../../src/store/runs.js";
import { READ_BATCH_BYTES } from "../../src/layers/read-batches.js";
import type { Store } from "../../src/store/types.js";
import { freshBlobs, readBack } from "../blobs.js";
import { fromPieces, randomPieces, wordyBytes as wordy } from "../helpers.js";

/**
 * Runs (store/codec.ts): ingest stores the new chunks of each read batch compressed as one run,
 * and each chunk as a slice of it. Reads, ranges, verification, peers and repairs all see the
 * chunks they always saw.
 */

async function storedForms(store: Store): Promise<{ slices: number; runs: Map<string, Uint8Array> }> {
  let slices = 0;
  const named = new Set<string>();
  const all = new Map<string, Uint8Array>();
  for await (const { id, data } of store.scanChunks()) {
    const slice = sliceOf(data);
    if (slice !== undefined) {
      slices++;
      named.add(slice.run.toString("hex"));
    }
    all.set(id.toString("hex"), Buffer.from(data));
  }
  return { slices, runs: new Map([...named].map((run) => [run, all.get(run)!])) };
}

test("a layer's new chunks are stored as runs of one read batch each, and read back whole and by ranges", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const blob = wordy(9_000_000, 1);
  const { digest, chunks, storedBytes } = await blobs.ingest(fromPieces(randomPieces(blob, 200_000)));
  const { slices, runs } = await storedForms(store);
  assert.equal(slices, chunks, "every chunk is a slice");
  assert.equal(runs.size, 3, "a run per read batch of about 4 MiB");
  for (const run of runs.values()) assert.ok(plainLength(run)! <= READ_BATCH_BYTES + (64 << 10), `a run of ${plainLength(run)} bytes`);
  assert.ok(storedBytes < blob.length / 2, `stored ${storedBytes} bytes`);
  assert.ok((await readBack(blobs, digest)).equals(blob));
  for (const [start, end] of [[0, 0], [4_194_000, 4_195_000], [2_000_000, 8_999_999], [8_999_999, 8_999_999]] as const) {
    assert.ok((await readBack(blobs, digest, { start, end })).equals(blob.subarray(start, end + 1)), `range ${start}-${end}`);
  }
  const summary = await blobs.summary();
  assert.equal(summary.chunks, chunks, "runs are not counted as chunks");
  assert.equal(summary.unreferencedChunks, 0, "nor as unreferenced: their slices hold them");
  assert.deepEqual((await blobs.verify()).damage, []);
});

test("a blob that shares some chunks of another's runs reads them out of those runs", async (t) => {
  const { blobs } = await freshBlobs(t, 0);
  const a = wordy(10_000_000, 2);
  await blobs.ingest(fromPieces([a]));
  const b = Buffer.concat([wordy(300_000, 3), a.subarray(500_000, 5_700_000), wordy(200_000, 4), a.subarray(7_600_000)]);
  const { digest, newChunks, chunks } = await blobs.ingest(fromPieces([b]));
  assert.ok(newChunks < chunks / 2, `${newChunks} of ${chunks} chunks new`);
  assert.ok((await readBack(blobs, digest)).equals(b));
  assert.deepEqual((await blobs.verify()).damage, []);
});

test("a damaged run fails the reads of its slices, and verify names it and each of its slices", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const blob = wordy(9_000_000, 5);
  const { digest } = await blobs.ingest(fromPieces([blob]));
  const { runs } = await storedForms(store);
  const [runHex, run] = [...runs][1]!;
  const plain = decodeChunk(run);
  plain[1000] = plain[1000]! ^ 1;
  await store.replaceChunks([{ id: Buffer.from(runHex, "hex"), data: encodeChunk(plain, store.settings.compression) }]);
  await assert.rejects(readBack(blobs, digest), { code: "CHUNK_CORRUPT" });
  const { damage } = await blobs.verify();
  assert.ok(damage.some((d) => d.kind === "chunk" && d.id === runHex), "the run, checked as a chunk of its own");
  const slicesNamed = damage.filter((d) => d.kind === "chunk" && d.problem === `its run ${runHex} is damaged`);
  assert.ok(slicesNamed.length > 10, `${slicesNamed.length} slices named`);
  assert.ok(damage.some((d) => d.kind === "blob" && d.id === digest));
});

test("a chunk taken apart from its run is its own stored form, checked against its id", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const { digest } = await blobs.ingest(fromPieces([wordy(1_500_000, 6)]));
  const { ids } = (await store.getRecipe(digest))!;
  const stored = await store.getChunks(ids);
  assert.ok(stored.every((data) => sliceOf(data!) !== undefined));
  const alone = await chunksApart(store, ids, store.settings.compression);
  alone.forEach((data, i) => {
    assert.equal(sliceOf(data!), undefined);
    assert.ok(chunkIdOf(decodeChunk(data!)).equals(ids[i]!));
  });
  // A slice that names bytes that are not its chunk's is refused, not handed on.
  await store.replaceChunks([{ id: ids[1]!, data: stored[0]! }]);
  const wrong = await chunksApart(store, [ids[1]!], store.settings.compression);
  assert.equal(wrong[0], undefined);
});

test("garbage collection compresses needed runs again, once, and the blobs read the same", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const blob = wordy(9_000_000, 7);
  const { digest } = await blobs.ingest(fromPieces([blob]));
  const before = await storedForms(store);
  const options = { roots: new Set([digest]), graceMs: 1000, dryRun: false, minLiveShare: 0.5 };
  const first = await blobs.collect(options);
  assert.equal(first.runs.runs, before.runs.size);
  const after = await storedForms(store);
  const bytes = (runs: Map<string, Uint8Array>) => [...runs.values()].reduce((sum, run) => sum + run.length, 0);
  assert.equal(bytes(before.runs) - bytes(after.runs), first.runs.savedBytes);
  assert.ok(first.runs.savedBytes > 0, "level 9 over a run takes less than level 3");
  assert.ok([...after.runs.values()].every((run) => run[0] === 3), "each marked settled");
  assert.equal((await blobs.collect(options)).runs.runs, 0, "and not compressed again");
  assert.ok((await readBack(blobs, digest)).equals(blob));
  assert.deepEqual((await blobs.verify()).damage, []);
});
