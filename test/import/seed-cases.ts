import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, run, runCli, tempDir } from "../helpers.js";
import { SeedWriter, type SeedConfig } from "./seed-builder.js";

/*
 * `docker-dedup import-seed` cases run against each database the seed could use (Redis in
 * import-seed.test.ts, Cassandra in import-seed-cassandra.test.ts), laid out as docker_dedup
 * wrote them (seed-builder.ts), checked by checking the layers out of the store byte for byte.
 */

/** Seed databases on one server: Redis's numbered databases, or Cassandra keyspaces. */
export interface SeedServer {
  /** Seed database `n` (from 1): the URL to write it and import it from, as import-seed names it. */
  seedUrl(n: number): string;
}

type TestContext = { after(fn: () => unknown): void };

/** Layers like the seed held: two tars sharing files (a repeated file inside one), random bytes, a config. */
export async function seedLayers(dir: string): Promise<Buffer[]> {
  const shared = randomBytes(300_000, 11);
  const text = Buffer.from(Array.from({ length: 6000 }, (_, i) => `line ${i % 700}: lorem ipsum dolor sit amet\n`).join(""));
  const tars: Buffer[] = [];
  for (const [name, files] of Object.entries({
    a: { "bin/tool": shared, "etc/copy-of-tool": shared, "usr/share/doc.txt": text, "etc/hostname": Buffer.from("a\n") },
    b: { "bin/tool": shared, "lib/other": randomBytes(200_000, 12), "etc/hostname": Buffer.from("b\n") },
  })) {
    const root = join(dir, name);
    for (const [path, bytes] of Object.entries(files)) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), bytes);
    }
    const tar = join(dir, `${name}.tar`);
    await run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", root, "-cf", tar, "."]);
    tars.push(await readFile(tar));
  }
  // Longer than the largest chunk: a single-chunk layer is lost in a sha256 seed (reportsBadLayers).
  const history = Array.from({ length: 1500 }, (_, i) => ({ created: `2019-12-${(i % 28) + 1}`, created_by: `/bin/sh -c step ${i * 7919}` }));
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", history, rootfs: { type: "layers" } }));
  return [...tars, randomBytes(600_000, 13), config];
}

export async function checkout(store: string, key: string): Promise<Buffer> {
  const r = await runCli(["checkout", "--store", store, key]);
  assert.equal(r.code, 0, r.stderr);
  return Buffer.from(r.stdout, "latin1");
}

export const CONFIGS: SeedConfig[] = [
  { storageAlgorithm: "md5", compressionLevel: 0, imageTypeFlag: true },
  { storageAlgorithm: "xxhash", compressionLevel: 6, imageTypeFlag: false },
  { storageAlgorithm: "sha256", compressionLevel: 1, imageTypeFlag: true },
];

/** Seeds 1-3 with md5, xxhash64 and sha256 keys, zlib or not: every layer imported byte for byte, then skipped on a second run. */
export async function importsEveryConfig(t: TestContext, server: SeedServer): Promise<void> {
  const dir = await tempDir(t);
  const layers = await seedLayers(dir);
  for (const [db, config] of CONFIGS.entries()) {
    const url = server.seedUrl(db + 1);
    const seed = await SeedWriter.open(url, config);
    const keys: string[] = [];
    for (const [i, layer] of layers.entries()) keys.push((await seed.addLayer(layer, i === layers.length - 1 ? "1" : "0")).key);
    await seed.set("map", "{'0123456789abcdef': bitarray('10')}");
    await seed.close();

    const store = join(dir, `store-${db}`);
    const r = await runCli(["import-seed", "--from", url, "--store", store]);
    const what = `${config.storageAlgorithm}, zlib ${config.compressionLevel}`;
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.deepEqual(r.stdout.trim().split("\n").map((line) => line.split("  ")[0]), keys.map((k) => `sha256:${k}`).sort(), what);
    assert.match(r.stderr, new RegExp(`${layers.length} layers in .*: ${layers.length} imported .* 0 already in the store, 0 failed`), what);
    for (const [i, key] of keys.entries()) assert.ok((await checkout(store, key)).equals(layers[i]!), `${what}: layer ${i}`);

    const again = await runCli(["import-seed", "--from", url, "--store", store]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, "");
    assert.match(again.stderr, new RegExp(`0 imported .* ${layers.length} already in the store, 0 failed`));
  }
}

/** How fillsStore writes its seed. */
export interface FillSeed {
  /** Where the seed is written. */
  writeUrl: string;
  /** Where import-seed reads it: the same database, perhaps named another way. */
  importUrl: string;
  config: SeedConfig;
  /** Chunks no layer names, beside the layers' (with sha256 keys, each one a candidate the scan reads and drops). */
  extraChunks?: number;
}

/** A store named by URL filled from a seed. */
export async function fillsStore(t: TestContext, seed: FillSeed, store: string): Promise<void> {
  const layers = (await seedLayers(await tempDir(t))).slice(1, 3);
  const writer = await SeedWriter.open(seed.writeUrl, seed.config);
  const keys: string[] = [];
  for (const layer of layers) keys.push((await writer.addLayer(layer)).key);
  for (let i = 0; i < (seed.extraChunks ?? 0); i++) {
    const chunk = randomBytes(100, 1000 + i);
    await writer.set(writer.chunkKey(chunk), chunk);
  }
  await writer.close();

  const r = await runCli(["import-seed", "--from", seed.importUrl, "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${layers.length} layers in .*: ${layers.length} imported`));
  for (const [i, key] of keys.entries()) assert.ok((await checkout(store, key)).equals(layers[i]!), `layer ${i}`);
}

/** Seeds 1 (md5) and 2 (sha256) with bad layers: each reported with its reason, the rest imported, exit code 1. */
export async function reportsBadLayers(t: TestContext, server: SeedServer): Promise<void> {
  const store = join(await tempDir(t), "store");

  const md5Seed = await SeedWriter.open(server.seedUrl(1), { storageAlgorithm: "md5", compressionLevel: 6, imageTypeFlag: false });
  const good = randomBytes(300_000, 21);
  const goodKey = (await md5Seed.addLayer(good)).key;
  const corrupt = await md5Seed.addLayer(randomBytes(200_000, 22));
  await md5Seed.set(corrupt.chunkKeys[3]!, "not the chunk");
  const missing = await md5Seed.addLayer(randomBytes(200_000, 23));
  await md5Seed.delete(missing.chunkKeys[5]!);
  // A recipe stored under a digest its bytes do not have.
  const mislabeled = await md5Seed.addLayer(randomBytes(100_000, 24));
  const wrongKey = "ab".repeat(32);
  await md5Seed.rename(mislabeled.key, wrongKey);
  await md5Seed.close();

  const shaSeed = await SeedWriter.open(server.seedUrl(2), { storageAlgorithm: "sha256", compressionLevel: 0, imageTypeFlag: true });
  const shaGood = randomBytes(150_000, 25);
  const shaGoodKey = (await shaSeed.addLayer(shaGood)).key;
  // Under the chunker's minimum, one chunk: its key is the layer's, and the recipe overwrote it.
  const single = await shaSeed.addLayer(Buffer.from('{"config": "small"}'), "1");
  assert.deepEqual(single.chunkKeys, [single.key]);
  // 64 KiB of zeros hold no content cut: a single chunk (cut at the maximum), so again overwritten;
  // and the first chunk of a layer that starts with it.
  const zeros = await shaSeed.addLayer(Buffer.alloc(65_536));
  const startsWithZeros = await shaSeed.addLayer(Buffer.concat([Buffer.alloc(65_536), randomBytes(100_000, 26)]));
  assert.equal(startsWithZeros.chunkKeys[0], zeros.key);
  await shaSeed.close();

  for (const db of [1, 2]) {
    const url = server.seedUrl(db);
    const r = await runCli(["import-seed", "--from", url, "--store", store]);
    assert.equal(r.code, 1, r.stderr);
    const failed = (key: string, reason: RegExp) => assert.match(r.stderr, new RegExp(`sha256:${key}: .*${reason.source}`), r.stderr);
    if (db === 1) {
      assert.equal(r.stdout.trim(), `sha256:${goodKey}  ${url}`);
      failed(corrupt.key, new RegExp(`chunk ${corrupt.chunkKeys[3]} is corrupt`));
      failed(missing.key, new RegExp(`1 of its ${missing.chunkKeys.length} chunks are missing .*#6, ${missing.chunkKeys[5]}`));
      failed(wrongKey, new RegExp(`not the stated sha256:${wrongKey}`));
      assert.match(r.stderr, /4 layers in .*: 1 imported .* 3 failed/);
    } else {
      assert.equal(r.stdout.trim(), `sha256:${shaGoodKey}  ${url}`);
      failed(single.key, /unrecoverable: a single-chunk layer/);
      failed(zeros.key, /unrecoverable: a single-chunk layer/);
      failed(startsWithZeros.key, new RegExp(`unrecoverable: chunk #1 \\(${zeros.key}\\) was overwritten by the recipe`));
      assert.match(r.stderr, /4 layers in .*: 1 imported .* 3 failed/);
    }
    assert.match(r.stderr, /docker-dedup: 3 of 4 seed layers were not imported\n$/);
  }
  assert.ok((await checkout(store, goodKey)).equals(good));
  assert.ok((await checkout(store, shaGoodKey)).equals(shaGood));
  // Bad layers left no recipe, and the store is sound.
  assert.equal((await runCli(["checkout", "--store", store, corrupt.key])).code, 1);
  assert.equal((await runCli(["verify", "--store", store])).code, 0);
}
