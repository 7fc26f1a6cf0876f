import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CodecPool } from "../../src/layers/codec-pool.js";
import { RecreatedCache, type BlockChecker } from "../../src/layers/gzip/recreated-cache.js";
import { collect, fromPieces, randomBytes, randomPieces, tempDir } from "../helpers.js";

/** The cache of re-created gzip layers: filled by whole reads, read back checked block by block. */

const digestOf = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const MiB = 1 << 20;

async function filled(cache: RecreatedCache, blob: Buffer): Promise<void> {
  const through = await collect(cache.fill(digestOf(blob), blob.length, fromPieces(randomPieces(blob, 300_000)) as AsyncIterable<Buffer>, never));
  assert.ok(through.equals(blob), "a fill passes the pieces through unchanged");
}

const never = async function* (): AsyncGenerator<Buffer> {
  throw new Error("not damaged: nothing should come from elsewhere");
};

/** Blocks hashed on the reading thread, or on a codec thread (the serve's way). */
const checkers: { name: string; open(): { checker?: BlockChecker; close(): Promise<void> } }[] = [
  { name: "blocks hashed by the reader", open: () => ({ close: async () => undefined }) },
  {
    name: "blocks hashed on a codec thread",
    open: () => {
      const pool = new CodecPool(1);
      return { checker: pool, close: () => pool.close() };
    },
  },
];

for (const { name, open } of checkers) {
  test(`a whole read fills the cache; whole and ranged reads then come from it, hits and misses counted (${name})`, async (t) => {
    const { checker, close } = open();
    t.after(close);
    const cache = await RecreatedCache.open(await tempDir(t), 64 * MiB);
    const blob = randomBytes(3 * MiB + 12_345, 3);
    const digest = digestOf(blob);
    assert.equal(cache.read(digest, 0, blob.length - 1, never, checker), undefined);
    await filled(cache, blob);
    assert.equal(cache.entries, 1);
    assert.equal(cache.bytes, blob.length);
    assert.ok((await collect(cache.read(digest, 0, blob.length - 1, never, checker)!)).equals(blob));
    for (const [start, end] of [[0, 0], [MiB - 1, MiB], [2 * MiB + 5, blob.length - 1], [123, 2 * MiB + 77]] as const) {
      assert.ok((await collect(cache.read(digest, start, end, never, checker)!)).equals(blob.subarray(start, end + 1)), `range ${start}-${end}`);
    }
    assert.equal(cache.read(digest, 5, blob.length, never, checker), undefined, "a range past the end is not the cache's to answer");
    assert.equal(cache.read(digest, 7, 6, never, checker), undefined);
    assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 5, misses: 3 });
  });

  test(`a damaged block, or damaged sums, are never served: the rest comes from elsewhere and the entry goes (${name})`, async (t) => {
    const { checker, close } = open();
    t.after(close);
    const dir = await tempDir(t);
    const cache = await RecreatedCache.open(dir, 64 * MiB);
    const blob = randomBytes(4 * MiB, 5);
    const digest = digestOf(blob);
    const file = join(dir, digest.slice(7));
    await filled(cache, blob);
    const bytes = await readFile(file);
    bytes[2 * MiB + 100]! ^= 1;
    await writeFile(file, bytes);
    const asked: number[] = [];
    const elsewhere = (at: number) => {
      asked.push(at);
      return fromPieces([blob.subarray(at)]) as AsyncIterable<Buffer>;
    };
    assert.ok((await collect(cache.read(digest, 0, blob.length - 1, elsewhere, checker)!)).equals(blob));
    assert.deepEqual(asked, [2 * MiB], "from the damaged block's start");
    assert.equal(cache.entries, 0);
    assert.deepEqual(await readdir(dir), []);

    await filled(cache, blob);
    const sums = await readFile(`${file}.sums`);
    sums[3]! ^= 1;
    await writeFile(`${file}.sums`, sums);
    assert.ok((await collect(cache.read(digest, 10, 20, (at) => fromPieces([blob.subarray(at, 21)]) as AsyncIterable<Buffer>, checker)!)).equals(blob.subarray(10, 21)));
    assert.equal(cache.entries, 0);
  });

  test(`blocks handed back once sent are read into again; pieces a consumer keeps are never overwritten (${name})`, async (t) => {
    const { checker, close } = open();
    t.after(close);
    const cache = await RecreatedCache.open(await tempDir(t), 64 * MiB);
    const blob = randomBytes(6 * MiB + 777, 9);
    const digest = digestOf(blob);
    await filled(cache, blob);
    const read = async (handBack: boolean, start = 0, end = blob.length - 1) => {
      const pieces: Buffer[] = [];
      for await (const piece of cache.read(digest, start, end, never, checker)!) {
        // Once handed back, a piece is the cache's again: a copy is what is kept of it.
        pieces.push(handBack ? Buffer.from(piece) : piece);
        if (handBack) cache.returned(piece);
      }
      return pieces;
    };
    const kept = await read(false);
    assert.ok(Buffer.concat(kept).equals(blob));
    assert.equal(cache.blocksReused, 0, "blocks never handed back are not reused");
    assert.ok(Buffer.concat(await read(true)).equals(blob));
    const before = cache.blocksReused;
    assert.ok(Buffer.concat(await read(true, MiB + 3, 5 * MiB + 9)).equals(blob.subarray(MiB + 3, 5 * MiB + 10)), "a range, in handed-back blocks");
    assert.ok(cache.blocksReused > before, "the blocks handed back were read into again");
    assert.ok(Buffer.concat(await read(true)).equals(blob));
    assert.ok(Buffer.concat(kept).equals(blob), "the pieces kept by the first read were not overwritten");
  });
}

test("the least recently read blobs leave first when the cache is full", async (t) => {
  const cache = await RecreatedCache.open(await tempDir(t), 5 * MiB);
  const [a, b, c] = [1, 2, 3].map((seed) => randomBytes(2 * MiB, seed)) as [Buffer, Buffer, Buffer];
  await filled(cache, a);
  await filled(cache, b);
  await collect(cache.read(digestOf(a), 0, 0, never)!); // a is now the most recently read
  await filled(cache, c);
  assert.equal(cache.entries, 2);
  assert.equal(cache.read(digestOf(b), 0, 0, never), undefined, "b went");
  assert.notEqual(cache.read(digestOf(a), 0, 0, never), undefined);
  await filled(cache, randomBytes(6 * MiB, 4));
  assert.equal(cache.entries, 2, "a blob larger than the whole cache is not kept");
});

test("what a run left is kept at the next open; unfinished fills are removed", async (t) => {
  const dir = await tempDir(t);
  const blob = randomBytes(MiB + 1, 6);
  await filled(await RecreatedCache.open(dir, 64 * MiB), blob);
  await writeFile(join(dir, ".fill-abcdef"), "half a blob");
  await writeFile(join(dir, "0".repeat(64)), "a blob whose sums were never written");
  const again = await RecreatedCache.open(dir, 64 * MiB);
  assert.equal(again.entries, 1);
  assert.ok((await collect(again.read(digestOf(blob), 0, blob.length - 1, never)!)).equals(blob));
  assert.deepEqual((await readdir(dir)).sort(), [digestOf(blob).slice(7), `${digestOf(blob).slice(7)}.sums`]);
});

test("a fill whose source fails keeps nothing; its reader gets what it lacks from elsewhere, which meets the same failure", async (t) => {
  const dir = await tempDir(t);
  const cache = await RecreatedCache.open(dir, 64 * MiB);
  const blob = randomBytes(2 * MiB, 8);
  async function* failing(): AsyncGenerator<Buffer> {
    yield blob.subarray(0, MiB);
    throw new Error("digest mismatch");
  }
  // As serve's reader: what the fill lacks is re-created, checked whole, and fails the same way.
  const elsewhere = async function* (): AsyncGenerator<Buffer> {
    throw new Error("digest mismatch");
  };
  await assert.rejects(collect(cache.fill(digestOf(blob), blob.length, failing(), elsewhere)), /digest mismatch/);
  await cache.settled();
  assert.equal(cache.entries, 0);
  assert.deepEqual(await readdir(dir), []);
});

test("bytes that are not the blob's are not kept: its reader gets the blocks it lacks from elsewhere", async (t) => {
  const cache = await RecreatedCache.open(await tempDir(t), 64 * MiB);
  const blob = randomBytes(MiB + 7, 9);
  const other = randomBytes(MiB + 7, 10);
  const elsewhere = (at: number) => fromPieces([other.subarray(at)]) as AsyncIterable<Buffer>;
  assert.ok((await collect(cache.fill(digestOf(blob), blob.length, fromPieces([other]) as AsyncIterable<Buffer>, elsewhere))).equals(other));
  await cache.settled();
  assert.equal(cache.entries, 0);
});

/** A blob's pieces of `pieceBytes`, each given only when the test lets it go (`release`), so a fill is caught in the middle. */
function gated(blob: Buffer, pieceBytes: number) {
  const pieces: Buffer[] = [];
  for (let at = 0; at < blob.length; at += pieceBytes) pieces.push(blob.subarray(at, at + pieceBytes));
  let released = 0;
  let wake: () => void = () => undefined;
  const source = (async function* () {
    for (let i = 0; i < pieces.length; i++) {
      while (i >= released) await new Promise<void>((resolve) => (wake = resolve));
      yield pieces[i]!;
    }
  })();
  return { source, pieces: pieces.length, release: (n = 1) => ((released += n), wake()) };
}

test("whole reads of a blob under a fill follow it: its blocks as written, checked, the last once the whole matched; none reads its own source, nor waits on another", async (t) => {
  const cache = await RecreatedCache.open(await tempDir(t), 64 * MiB);
  const blob = randomBytes(3 * MiB + 12_345, 11);
  const leader = gated(blob, 700_000);
  const filling = cache.fill(digestOf(blob), blob.length, leader.source, never);
  leader.release(2);
  const first = await filling.next(); // the fill is under way: its first block written
  const followers = [1, 2].map(() => collect(cache.fill(digestOf(blob), blob.length, never(), never)));
  leader.release(leader.pieces);
  // The first reader asks for nothing more meanwhile (a stalled client): the others are served on.
  for (const bytes of await Promise.all(followers)) assert.ok(bytes.equals(blob), "a follower's bytes are the blob's");
  assert.ok(Buffer.concat([first.value as Buffer, await collect(filling)]).equals(blob));
  assert.deepEqual({ followed: cache.followed, entries: cache.entries }, { followed: 2, entries: 1 });
});

test("a fill goes on while any reader follows it, and stops once none does, keeping nothing", async (t) => {
  const dir = await tempDir(t);
  const cache = await RecreatedCache.open(dir, 64 * MiB);
  const blob = randomBytes(3 * MiB + 5, 12);
  const leader = gated(blob, 512 << 10);
  const filling = cache.fill(digestOf(blob), blob.length, leader.source, never);
  leader.release(2);
  await filling.next(); // the first block
  const follower = cache.fill(digestOf(blob), blob.length, never(), never);
  const followed = await follower.next();
  await filling.return(undefined); // the first reader leaves; the follower is served on
  leader.release(leader.pieces);
  assert.ok(Buffer.concat([followed.value as Buffer, await collect(follower)]).equals(blob));
  assert.equal(cache.entries, 1, "kept");

  // A fill no one follows any more stops, and leaves no file.
  const other = randomBytes(3 * MiB, 13);
  const source = gated(other, 512 << 10);
  const alone = cache.fill(digestOf(other), other.length, source.source, never);
  source.release(2);
  await alone.next();
  await alone.return(undefined);
  source.release(source.pieces);
  await cache.settled();
  assert.equal(cache.entries, 1, "the first blob only");
  assert.equal((await readdir(dir)).filter((name) => name.startsWith(".fill-")).length, 0);
});

test("a range of a blob under a fill is read from the fill's file as it is written, not re-created", async (t) => {
  const cache = await RecreatedCache.open(await tempDir(t), 64 * MiB);
  const blob = randomBytes(3 * MiB + 77, 14);
  const leader = gated(blob, 512 << 10);
  const filling = cache.fill(digestOf(blob), blob.length, leader.source, never);
  leader.release(2);
  const first = await filling.next();
  const ranges: [number, number][] = [[100, 200], [MiB - 10, 2 * MiB + 10], [3 * MiB, 3 * MiB + 76]];
  const reads = ranges.map(([start, end]) => collect(cache.read(digestOf(blob), start, end, never)!));
  leader.release(leader.pieces);
  const got = await Promise.all(reads);
  ranges.forEach(([start, end], i) => assert.ok(got[i]!.equals(blob.subarray(start, end + 1)), `range ${start}-${end}`));
  assert.deepEqual({ misses: cache.misses, followed: cache.followed, hits: cache.hits }, { misses: 3, followed: 3, hits: 0 });
  assert.ok(Buffer.concat([first.value as Buffer, await collect(filling)]).equals(blob), "the fill's own reader");
});
