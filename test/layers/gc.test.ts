import assert from "node:assert/strict";
import { test } from "node:test";
import { GZIP_PENDING_PREFIX } from "../../src/layers/gzip/convert.js";
import { freshBlobs, readBack } from "../blobs.js";
import { gzipWith } from "../deflate/gzipper.js";
import { fromPieces, randomBytes } from "../helpers.js";

/**
 * Garbage collection (src/layers/gc.ts): what no root needs is doomed, then deleted a grace
 * period later, its chunks a grace period after that, and the packs that held them rewritten;
 * what a root needs, or needs again, stays readable throughout. Time is the test's (`now`).
 */

const GRACE = 1000;
const options = (roots: string[], now: number) => ({ roots: new Set(roots), graceMs: GRACE, now, dryRun: false, minLiveShare: 0.5 });

test("unneeded blobs are doomed, then deleted with their chunks; the packs shrink; needed blobs stay byte-exact", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const shared = randomBytes(2_000_000, 1);
  const a = Buffer.concat([shared, randomBytes(500_000, 2)]);
  const b = Buffer.concat([shared, randomBytes(3_000_000, 3)]);
  const c = randomBytes(4_000_000, 4);
  const [ra, rb, rc] = [await blobs.ingest(fromPieces([a])), await blobs.ingest(fromPieces([b])), await blobs.ingest(fromPieces([c]))];
  const before = (await store.usage()).backendBytes;

  let report = await blobs.collect(options([ra.digest], 0));
  assert.equal(report.blobs.doomed, 2);
  assert.equal(await blobs.has(rb.digest), false, "a doomed blob is not found by has: a push writes it anew");
  assert.equal(await blobs.has(ra.digest), true);
  report = await blobs.collect(options([ra.digest], GRACE / 2));
  assert.equal(report.blobs.deleted, 0, "not within the grace period");
  report = await blobs.collect(options([ra.digest], GRACE + 1));
  assert.equal(report.blobs.deleted, 2);
  assert.ok(report.chunks.doomed > 0 && report.chunks.deleted === 0, "their chunks are doomed now, deleted a grace period later");
  report = await blobs.collect(options([ra.digest], 2 * GRACE + 2));
  assert.ok(report.chunks.deleted > 0);
  // Their runs (store/codec.ts) were held while their slices were live: doomed now, deleted a grace period later.
  assert.ok(report.chunks.doomed > 0, "the runs that held their bytes are doomed once no live slice names them");
  report = await blobs.collect(options([ra.digest], 3 * GRACE + 3));
  assert.ok(report.chunks.deleted > 0);
  assert.ok(report.packs.rewritten > 0, "the packs holding them were rewritten");
  const after = (await store.usage()).backendBytes;
  assert.ok(after < before - 5_000_000, `disk ${before} -> ${after}`);
  assert.ok((await readBack(blobs, ra.digest)).equals(a), "the needed blob, with the chunks it shared, is whole");
  assert.equal(await blobs.open(rc.digest), undefined);
  assert.deepEqual((await blobs.verify()).damage, []);
});

test("a doomed blob that is opened, or pushed again, or needed again, comes back whole", async (t) => {
  const { blobs } = await freshBlobs(t, 0);
  const x = randomBytes(1_500_000, 11);
  const y = randomBytes(1_500_000, 12);
  const z = randomBytes(1_500_000, 13);
  const [rx, ry, rz] = [await blobs.ingest(fromPieces([x])), await blobs.ingest(fromPieces([y])), await blobs.ingest(fromPieces([z]))];
  await blobs.collect(options([], 0));
  for (const r of [rx, ry, rz]) assert.equal(await blobs.has(r.digest), false);
  // x: opened by its digest (a blob linked between a collection's look at the roots and its doom).
  assert.ok((await readBack(blobs, rx.digest)).equals(x));
  // y: pushed again.
  await blobs.ingest(fromPieces([y]));
  // z: a root again at the next collection, past the grace period.
  const report = await blobs.collect(options([rx.digest, ry.digest, rz.digest], 5 * GRACE));
  assert.equal(report.blobs.deleted, 0);
  assert.equal(report.blobs.broughtBack, 2, "z, and y's doomed copy, which its new push left behind");
  await blobs.collect(options([rx.digest, ry.digest, rz.digest], 10 * GRACE));
  for (const [r, data] of [[rx, x], [ry, y], [rz, z]] as const) assert.ok((await readBack(blobs, r.digest)).equals(data), r.digest);
  assert.deepEqual((await blobs.verify()).damage, []);
});

test("pinned blobs, gzip layers waiting for conversion and the content of kept gzip layers are roots", async (t) => {
  const { store, blobs } = await freshBlobs(t, 0);
  const pinned = await blobs.ingest(fromPieces([randomBytes(300_000, 21)]));
  await blobs.pin(pinned.digest);
  const waiting = await blobs.ingest(fromPieces([await gzipWith({ encoder: "stdlib", level: 6 }, randomBytes(200_000, 22))]), { convert: false });
  await store.putMeta(GZIP_PENDING_PREFIX + waiting.digest, Buffer.alloc(0));
  const tar = Buffer.concat([randomBytes(400_000, 23), Buffer.alloc(400_000)]);
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, tar);
  const layer = await blobs.ingest(fromPieces([gzip]));
  await blobs.convertGzip(waiting.digest);
  await blobs.conversionsSettled();
  // Only the gzip layer is a root here (as a repository would link it): its content must stay.
  for (let now = 0; now <= 3 * GRACE + 3; now += GRACE + 1) await blobs.collect(options([layer.digest], now));
  assert.ok((await readBack(blobs, layer.digest)).equals(gzip), "the gzip layer, re-created from its content");
  assert.ok(await blobs.has(pinned.digest));
  // The converted layer is no root and was not pinned: it went.
  assert.equal(await blobs.open(waiting.digest), undefined);
  assert.deepEqual((await blobs.verify()).damage, []);
});
