import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { describeEncoder, type EncoderSpec } from "../../src/deflate/encoders.js";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { gzipFormKey } from "../../src/layers/gzip/form.js";
import { summarizeBlobs } from "../../src/layers/summary.js";
import type { Store } from "../../src/store/types.js";
import { RecreatedCache } from "../../src/layers/gzip/recreated-cache.js";
import { GZIP_KEPT_PREFIX, GZIP_PENDING_PREFIX } from "../../src/layers/gzip/convert.js";
import { blobsOver, freshBlobs, readBack } from "../blobs.js";
import { fromPieces, randomBytes, tempDir } from "../helpers.js";
import { gzipWith, type RealEncoder } from "../deflate/gzipper.js";
import { zlibVectors } from "../deflate/zlib-vectors.js";
import { realTar } from "../deflate/zlib-inputs.js";

/**
 * gzip blobs made by the real tools are stored as their content plus a form, proven before the
 * compressed bytes go, and read back byte-exact, whole and in ranges; what no encoder of the
 * library makes stays as it is, and reads back byte-exact too.
 */

const digestOf = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function converted(t: { after(fn: () => unknown): void }, gzip: Buffer, recreated?: RecreatedCache) {
  const { store, blobs } = await freshBlobs(t, undefined, recreated);
  const { digest } = await blobs.ingest(fromPieces([gzip]));
  assert.ok((await store.getMeta(GZIP_PENDING_PREFIX + digest)) !== undefined, "marked for conversion when it is committed");
  await blobs.conversionsSettled();
  return { store, blobs, digest };
}

async function assertReadsBack(blobs: Awaited<ReturnType<typeof converted>>["blobs"], digest: string, gzip: Buffer): Promise<void> {
  assert.ok((await readBack(blobs, digest)).equals(gzip), "whole, byte-exact");
  for (const [start, end] of [[0, 9], [10, 5000], [gzip.length - 20, gzip.length - 1], [Math.floor(gzip.length / 2), Math.floor(gzip.length / 2) + 70_000]] as const) {
    const last = Math.min(end, gzip.length - 1);
    assert.ok((await readBack(blobs, digest, { start, end: last })).equals(gzip.subarray(start, last + 1)), `range ${start}-${last}`);
  }
}

const REAL: [string, RealEncoder][] = [
  ["Go compress/gzip level 6 (docker push, BuildKit, containerd)", { encoder: "stdlib", level: 6 }],
  ["Go compress/gzip level 1 (crane, ko, kaniko)", { encoder: "stdlib", level: 1 }],
  ["Go compress/gzip level 9", { encoder: "stdlib", level: 9 }],
  ["pgzip default, 1 MiB blocks (skopeo, podman, buildah)", { encoder: "pgzip", level: -1, block: 1 << 20 }],
  ["pgzip default, 256 KiB blocks (umoci 0.4)", { encoder: "pgzip", level: -1, block: 256 << 10 }],
  ["klauspost/compress/gzip level 5", { encoder: "kflate", level: 5 }],
];

for (const [name, real] of REAL) {
  test(`${name}: stored as its content, read back byte-exact`, async (t) => {
    const tar = await realTar(await tempDir(t), 3 << 20);
    const gzip = await gzipWith(real, tar);
    const { store, blobs, digest } = await converted(t, gzip);
    assert.ok((await store.getMeta(gzipFormKey(digest))) !== undefined, "a form was written");
    assert.equal(await store.getRecipe(digest), undefined, "the compressed bytes' recipe is gone");
    assert.ok((await store.getRecipe(digestOf(tar))) !== undefined, "the content is a blob of its own");
    assert.equal(await store.getMeta(GZIP_PENDING_PREFIX + digest), undefined);
    await assertReadsBack(blobs, digest, gzip);
  });
}

test("zlib's gzip (Python's gzip.compress and GzipFile) is stored as its content, read back byte-exact", async (t) => {
  const tar = await realTar(await tempDir(t), 2 << 20);
  for (const gzip of await zlibVectors([{ kind: "gzip" }, { kind: "gzip", level: 6 }, { kind: "gzipfile", level: 1, piece: 10240 }], tar)) {
    const { store, blobs, digest } = await converted(t, gzip);
    assert.equal(await store.getRecipe(digest), undefined, "converted");
    await assertReadsBack(blobs, digest, gzip);
  }
});

test("several members, trailing bytes, an empty member: stored as content, byte-exact", async (t) => {
  const one = await gzipWith({ encoder: "stdlib", level: 6 }, randomBytes(300_000, 1));
  const two = await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, Buffer.alloc(2_000_000, 7));
  const empty = await gzipWith({ encoder: "stdlib", level: 6 }, Buffer.alloc(0));
  const gzip = Buffer.concat([one, empty, two, Buffer.alloc(1024)]);
  const { store, blobs, digest } = await converted(t, gzip);
  assert.equal(await store.getRecipe(digest), undefined, "converted");
  await assertReadsBack(blobs, digest, gzip);
});

test("GNU gzip (no encoder of the library) and a damaged stream stay as they are, with the reason, and read back byte-exact", async (t) => {
  const tar = await realTar(await tempDir(t), 1 << 20);
  const gnu = execFileSync("gzip", ["-n", "-6"], { input: tar });
  const damaged = Buffer.from(await gzipWith({ encoder: "stdlib", level: 6 }, tar));
  damaged[damaged.length - 6]! ^= 0xff; // the trailer's length no longer matches the content
  for (const [gzip, why] of [[gnu, /no encoder of the library writes it/], [damaged, /CRC-32 or length does not match/]] as const) {
    const { store, blobs, digest } = await converted(t, gzip);
    assert.ok((await store.getRecipe(digest)) !== undefined, "still stored as its compressed bytes");
    assert.match((await store.getMeta(GZIP_KEPT_PREFIX + digest))!.toString(), why);
    assert.ok((await readBack(blobs, digest)).equals(gzip));
  }
});

test("a converted layer dedups against the same content pushed uncompressed, and against its other compressions", async (t) => {
  const { store, blobs } = await freshBlobs(t);
  const tar = await realTar(await tempDir(t), 3 << 20);
  const plain = await blobs.ingest(fromPieces([tar]));
  const go = await blobs.ingest(fromPieces([await gzipWith({ encoder: "stdlib", level: 6 }, tar)]));
  const pgzip = await blobs.ingest(fromPieces([await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, tar)]));
  await blobs.conversionsSettled();
  assert.equal(go.newBytes > 0, true);
  assert.equal(await store.getRecipe(go.digest), undefined);
  assert.equal(await store.getRecipe(pgzip.digest), undefined);
  const summary = await blobs.summary();
  // The content is stored once: distinct chunk bytes no more than the tar's (plus the forms' nothing).
  assert.ok(summary.uniqueBytes <= tar.length + 200_000, `distinct bytes ${summary.uniqueBytes} for a ${tar.length}-byte tar`);
  assert.ok(plain.digest === digestOf(tar));
});

test("long members are re-created in parts on several threads (Go between checkpoints, pgzip at block boundaries), byte-exact", async (t) => {
  const tar = await realTar(await tempDir(t), 11 << 20);
  for (const real of [{ encoder: "stdlib", level: 6 }, { encoder: "pgzip", level: -1, block: 1 << 20 }, { encoder: "pgzip", level: -1, block: 256 << 10 }] as const) {
    const gzip = await gzipWith(real, tar);
    const { store, blobs, digest } = await converted(t, gzip);
    const form = JSON.parse((await store.getMeta(gzipFormKey(digest)))!.toString()) as { members: { checkpoints?: string[] }[] };
    if (real.encoder === "stdlib") assert.ok((form.members[0]!.checkpoints?.length ?? 0) >= 2, "checkpoints to cut the stream at");
    await assertReadsBack(blobs, digest, gzip);
  }
});

test("a converted layer is kept in the cache of re-created layers (the bytes it was proven against); once evicted, a whole re-creation fills it again", async (t) => {
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, await realTar(await tempDir(t), 3 << 20));
  const cacheDir = await tempDir(t);
  const cache = await RecreatedCache.open(cacheDir, 64 << 20);
  const { store, blobs, digest } = await converted(t, gzip, cache);
  assert.deepEqual({ entries: cache.entries, bytes: cache.bytes }, { entries: 1, bytes: gzip.length }, "kept by the conversion");
  await assertReadsBack(blobs, digest, gzip);
  assert.deepEqual({ hits: cache.hits, misses: cache.misses }, { hits: 5, misses: 0 }, "the whole and every range came from the cache");

  // The cache emptied (as by eviction, or a new cache directory): reads re-create.
  for (const name of await readdir(cacheDir)) await rm(join(cacheDir, name));
  const emptied = await RecreatedCache.open(cacheDir, 64 << 20);
  const again = blobsOver(t, store, undefined, emptied);
  assert.ok((await readBack(again, digest, { start: 100, end: 200 })).equals(gzip.subarray(100, 201)), "a range, re-created");
  assert.equal(emptied.entries, 0, "a range does not fill the cache");
  assert.ok((await readBack(again, digest)).equals(gzip));
  assert.deepEqual({ entries: emptied.entries, bytes: emptied.bytes, hits: emptied.hits, misses: emptied.misses }, { entries: 1, bytes: gzip.length, hits: 0, misses: 2 });
  await assertReadsBack(again, digest, gzip);
  assert.equal(emptied.hits, 5, "the whole and every range came from the cache");
});

test("clients pulling a converted layer at once, its cache emptied, cost one re-creation: the others follow its fill, byte-exact", async (t) => {
  const gzip = await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, await realTar(await tempDir(t), 6 << 20));
  const { store, digest } = await converted(t, gzip);
  const cache = await RecreatedCache.open(await tempDir(t), 64 << 20);
  const blobs = blobsOver(t, store, undefined, cache);
  const clients = 4;
  const pulled = await Promise.all(Array.from({ length: clients }, () => readBack(blobs, digest)));
  for (const bytes of pulled) assert.ok(bytes.equals(gzip), "byte-exact");
  // However the reads met the fill (following it, or after it, from the cache), one re-created the layer.
  assert.equal(cache.hits + cache.misses, clients);
  assert.equal(cache.misses - cache.followed, 1, `re-creations: ${cache.misses} missed, ${cache.followed} followed`);
  assert.equal(cache.entries, 1);
});

test("stats counts a gzip layer once while a conversion moves it from pending to converted between its scans", async (t) => {
  const tar = await realTar(await tempDir(t), 1 << 20);
  const { store, digest } = await converted(t, await gzipWith({ encoder: "stdlib", level: 6 }, tar));
  // Back to the moment before the conversion's last commits: marked, no form yet.
  const form = (await store.getMeta(gzipFormKey(digest)))!;
  await store.deleteMeta(gzipFormKey(digest));
  await store.putMeta(GZIP_PENDING_PREFIX + digest, Buffer.alloc(0));
  // The real store, but the conversion's commits (form, then the mark's removal) land right after
  // the first scan of gzip records, whichever that is: between two scans of the summary.
  let moved = false;
  const converting = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== "scanMeta") return typeof value === "function" ? value.bind(target) : value;
      return async function* (prefix: string, after?: string) {
        yield* target.scanMeta(prefix, after);
        if (moved || !prefix.startsWith("layers/gzip")) return;
        moved = true;
        await target.putMeta(gzipFormKey(digest), form);
        await target.deleteMeta(GZIP_PENDING_PREFIX + digest);
      };
    },
  }) as Store;
  const { gzip } = await summarizeBlobs(converting);
  assert.ok(moved);
  assert.deepEqual({ asContent: gzip.asContent, kept: gzip.kept.length, pending: gzip.pending }, { asContent: 1, kept: 0, pending: 0 });
});

test("a start warms up the encoders of the stored gzip layers, most used first, over a layer's content read past the chunk cache; zlib's is left out", async (t) => {
  const dir = await tempDir(t);
  const [tar, other] = [await realTar(dir, 3 << 20), randomBytes(1 << 20)];
  const { store, blobs } = await freshBlobs(t);
  const layers = [
    await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, tar),
    await gzipWith({ encoder: "stdlib", level: 6 }, tar),
    await gzipWith({ encoder: "stdlib", level: 6 }, other),
    ...(await zlibVectors([{ kind: "gzip", level: 6 }], tar)),
  ];
  for (const gzip of layers) await blobs.ingest(fromPieces([gzip]));
  await blobs.conversionsSettled();
  const encoderOf = async (gzip: Buffer) => {
    const form = JSON.parse((await store.getMeta(gzipFormKey(digestOf(gzip))))!.toString()) as { members: { encoder: EncoderSpec }[] };
    return describeEncoder(form.members[0]!.encoder);
  };

  const parts = new BlobParts({ chunkCacheBytes: 64 << 20 });
  const started = new BlobService(store, parts);
  t.after(async () => {
    await started.close();
    await parts.close();
  });
  assert.deepEqual(await started.warmUpEncoders(), [await encoderOf(layers[1]!), await encoderOf(layers[0]!)], "Go's (two layers), then pgzip's");
  assert.equal(parts.cache.bytes, 0, "the content was read past the chunk cache");
  for (const gzip of layers) assert.ok((await readBack(started, digestOf(gzip))).equals(gzip), "reads after it are byte-exact");
});
