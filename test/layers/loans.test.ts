import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { Loans } from "../../src/layers/loans.js";
import { writeBlob } from "../../src/layers/write-blob.js";
import { freshBlobs } from "../blobs.js";
import { fromPieces, wordyBytes } from "../helpers.js";

/**
 * Decoded batch buffers lent to reads (layers/loans.ts): reused once a read has passed them and
 * its consumer handed back every piece from them, never before, never without its word.
 */

test("a lent buffer is recycled once the read passed all its chunks and every piece from it came back", () => {
  const recycled: ArrayBuffer[] = [];
  const loans = new Loans((buffer) => recycled.push(buffer));
  const buffer = new ArrayBuffer(100);
  loans.lend(buffer, 3);
  const [a, b, c] = [Buffer.from(buffer, 0, 40), Buffer.from(buffer, 40, 40), Buffer.from(buffer, 80, 20)];
  const joined = Buffer.from(buffer, 0, 80);
  loans.yielding(joined);
  loans.passed(a);
  loans.passed(b);
  loans.returned(joined);
  assert.deepEqual(recycled, [], "a chunk is not passed yet (one decoded for a later batch)");
  loans.yielding(c);
  loans.passed(c);
  assert.deepEqual(recycled, [], "its piece is still out");
  loans.returned(c);
  assert.deepEqual(recycled, [buffer]);

  loans.returned(Buffer.alloc(5));
  loans.passed(Buffer.alloc(5));
  const kept = new ArrayBuffer(10);
  loans.lend(kept, 1);
  loans.yielding(Buffer.from(kept));
  loans.passed(Buffer.from(kept));
  assert.deepEqual(recycled, [buffer], "buffers never lent are ignored, and a piece never handed back keeps its buffer");
});

/** Reads a blob as a socket would take it: each piece copied out, then handed back a turn later. */
async function send(blobs: BlobService, digest: string): Promise<Buffer> {
  const blob = (await blobs.open(digest))!;
  const copies: Buffer[] = [];
  for await (const piece of blob.read()) {
    copies.push(Buffer.from(piece));
    setImmediate(() => blob.sent(piece));
  }
  await new Promise((resolve) => setImmediate(resolve));
  return Buffer.concat(copies);
}

/** Reads a blob keeping every piece, handing none back. */
async function keep(blobs: BlobService, digest: string): Promise<Buffer[]> {
  const kept: Buffer[] = [];
  for await (const piece of (await blobs.open(digest))!.read()) kept.push(piece);
  return kept;
}

async function twoBlobs(blobs: BlobService): Promise<{ a: Buffer; b: Buffer; da: string; db: string }> {
  const a = wordyBytes(14_000_000, 11);
  // Shares runs of a's in part: some of its batches decode chunks for the next.
  const b = Buffer.concat([wordyBytes(300_000, 12), a.subarray(500_000, 9_700_000), wordyBytes(200_000, 13), a.subarray(11_600_000)]);
  const { digest: da } = await blobs.ingest(fromPieces([a]));
  const { digest: db } = await blobs.ingest(fromPieces([b]));
  return { a, b, da, db };
}

/** A service over a fresh store with no chunk cache, its parts (to count buffers reused), and blob a of twoBlobs. */
async function withoutCache(t: { after(fn: () => unknown): void }): Promise<{ parts: BlobParts; blobs: BlobService; a: Buffer; da: string }> {
  const { store } = await freshBlobs(t, 0);
  const parts = new BlobParts({ chunkCacheBytes: 0 });
  const blobs = new BlobService(store, parts);
  t.after(() => parts.close());
  const { a, da } = await twoBlobs(blobs);
  return { parts, blobs, a, da };
}

test("with no cache, a read decodes into the buffers an earlier read's consumer handed back", async (t) => {
  const { parts, blobs, a, da } = await withoutCache(t);
  const reused = () => parts.codec.decodedBuffersReused;
  assert.ok((await send(blobs, da)).equals(a));
  assert.equal(reused(), 0);
  // 14 MB: 4 batches; a read hands back the buffers of 3 or 4 (a small last one is decoded in place).
  const kept = await keep(blobs, da);
  const byKeeper = reused();
  assert.ok(byKeeper >= 3, `${byKeeper} batches decoded into buffers handed back`);
  assert.ok((await send(blobs, da)).equals(a));
  assert.equal(reused(), byKeeper, "a read that hands nothing back gives nothing to reuse");
  assert.ok((await send(blobs, da)).equals(a));
  assert.ok(reused() >= byKeeper + 3, `${reused() - byKeeper} batches decoded into buffers handed back`);
  assert.ok(Buffer.concat(kept).equals(a), "the keeper's pieces are untouched");
});

test("reads at once, some handing pieces back and some keeping them, each get their own bytes", async (t) => {
  const { blobs } = await freshBlobs(t, 0);
  const { a, b, da, db } = await twoBlobs(blobs);
  const [sentA, sentB, keptA, keptB, sentB2] = await Promise.all([send(blobs, da), send(blobs, db), keep(blobs, da), keep(blobs, db), send(blobs, db)]);
  assert.ok(sentA.equals(a) && sentB.equals(b) && sentB2.equals(b));
  // Read once the others are done: a kept piece whose buffer had been reused would differ now.
  await send(blobs, da);
  assert.ok(Buffer.concat(keptA).equals(a), "pieces kept are never overwritten");
  assert.ok(Buffer.concat(keptB).equals(b), "pieces kept are never overwritten");
});

test("writeBlob hands each piece back once written, and fails with its output", async (t) => {
  const { parts, blobs, a, da } = await withoutCache(t);
  const written: Buffer[] = [];
  // A slow file: each write done a turn later, its buffer full after every piece.
  const out = new Writable({
    highWaterMark: 1,
    write: (piece: Buffer, _encoding, done) => {
      written.push(Buffer.from(piece));
      setImmediate(done);
    },
  });
  await writeBlob((await blobs.open(da))!, out);
  assert.ok(Buffer.concat(written).equals(a));
  assert.ok(out.writableFinished);
  // 14 MB: 4 batches; the writer handed back the buffers of 3 or 4 (a small last one is decoded in place).
  assert.ok(parts.codec.decodedBuffersReused === 0);
  assert.ok((await send(blobs, da)).equals(a));
  assert.ok(parts.codec.decodedBuffersReused >= 3, `${parts.codec.decodedBuffersReused} batches decoded into buffers handed back`);

  const broken = new Writable({ write: (_piece, _encoding, done) => done(new Error("disk full")) });
  await assert.rejects(writeBlob((await blobs.open(da))!, broken), /disk full/);
  assert.ok(broken.destroyed);
});
