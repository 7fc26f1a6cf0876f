import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { open as openLmdb } from "lmdb";
import { openStore } from "../../src/store/open.js";
import { decodeRecipe, encodeRecipe } from "../../src/store/recipe.js";
import { randomBytes, run, runCli, tempDir } from "../helpers.js";

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Every CLI error is one line on stderr, no stack trace, and a non-zero exit. */
function assertCleanError(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
}

test("add, checkout, stats and verify on plain files", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  const shared = randomBytes(600_000, 1);
  const a = Buffer.concat([shared, randomBytes(200_000, 2)]);
  const b = Buffer.concat([randomBytes(100_000, 3), shared]);
  await writeFile(join(dir, "a.tar"), a);
  await writeFile(join(dir, "b.tar"), b);

  const added = await runCli(["add", "--store", store, join(dir, "a.tar"), join(dir, "b.tar")]);
  assert.equal(added.code, 0, added.stderr);
  assert.deepEqual(added.stdout.trim().split("\n"), [`sha256:${sha(a)}  ${join(dir, "a.tar")}`, `sha256:${sha(b)}  ${join(dir, "b.tar")}`]);

  const out = await runCli(["checkout", "--store", store, `sha256:${sha(b)}`]);
  assert.equal(out.code, 0, out.stderr);
  assert.ok(Buffer.from(out.stdout, "latin1").equals(b));
  // The seed's uuid form (bare hex), and -o writing a file.
  assert.equal((await runCli(["checkout", "--store", store, sha(a), "-o", join(dir, "a.out")])).code, 0);
  assert.ok((await readFile(join(dir, "a.out"))).equals(a));

  const stats = JSON.parse((await runCli(["stats", "--store", store, "--json"])).stdout);
  assert.equal(stats.blobs, 2);
  assert.equal(stats.logicalBytes, a.length + b.length);
  assert.ok(stats.chunks > 0 && stats.storedBytes > 0);
  assert.ok(stats.dedupRatio > 1.5, `ratio ${stats.dedupRatio}`);
  for (const key of ["blobs", "chunks", "logicalBytes", "storedBytes", "dedupRatio"]) assert.ok(key in stats, key);

  const verified = await runCli(["verify", "--store", store]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /all intact/);

  // The store also comes from the environment.
  const viaEnv = await runCli(["stats", "--json"], { DOCKER_DEDUP_STORE: store });
  assert.equal(JSON.parse(viaEnv.stdout).blobs, 2);
});

test("add understands registry storage, OCI layouts and docker save tarballs", async (t) => {
  const dir = await tempDir(t);
  const layer = randomBytes(300_000, 5);
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');

  // The reference registry's storage, the seed's workflow: a blob with a wrong name is refused.
  const registry = join(dir, "registry");
  for (const blob of [layer, config]) {
    await mkdir(join(registry, "docker/registry/v2/blobs/sha256", sha(blob).slice(0, 2), sha(blob)), { recursive: true });
    await writeFile(join(registry, "docker/registry/v2/blobs/sha256", sha(blob).slice(0, 2), sha(blob), "data"), blob);
  }
  const viaRegistry = await runCli(["add", "--store", join(dir, "s1"), registry]);
  assert.equal(viaRegistry.code, 0, viaRegistry.stderr);
  assert.deepEqual(digests(viaRegistry.stdout), [sha(layer), sha(config)].sort());

  // An OCI image layout.
  const layout = join(dir, "oci");
  await mkdir(join(layout, "blobs/sha256"), { recursive: true });
  await writeFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(layout, "index.json"), '{"schemaVersion":2,"manifests":[]}');
  for (const blob of [layer, config]) await writeFile(join(layout, "blobs/sha256", sha(blob)), blob);
  const viaLayout = await runCli(["add", "--store", join(dir, "s2"), layout]);
  assert.equal(viaLayout.code, 0, viaLayout.stderr);
  assert.deepEqual(digests(viaLayout.stdout), [sha(layer), sha(config)].sort());

  // A legacy `docker save` tarball: <id>/layer.tar, <config>.json and manifest.json.
  const saved = join(dir, "saved");
  await mkdir(join(saved, "abc123"), { recursive: true });
  await writeFile(join(saved, "abc123/layer.tar"), layer);
  await writeFile(join(saved, `${sha(config)}.json`), config);
  await writeFile(join(saved, "manifest.json"), JSON.stringify([{ Config: `${sha(config)}.json`, RepoTags: ["x:1"], Layers: ["abc123/layer.tar"] }]));
  await run("tar", ["-cf", join(dir, "image.tar"), "-C", saved, ...(await readdir(saved))]);
  const viaSave = await runCli(["add", "--store", join(dir, "s3"), join(dir, "image.tar")]);
  assert.equal(viaSave.code, 0, viaSave.stderr);
  assert.deepEqual(digests(viaSave.stdout), [sha(layer), sha(config)].sort());
  const back = await runCli(["checkout", "--store", join(dir, "s3"), `sha256:${sha(layer)}`]);
  assert.ok(Buffer.from(back.stdout, "latin1").equals(layer));
});

test("a registry blob whose content does not match its name is refused, the others still added", async (t) => {
  const dir = await tempDir(t);
  const good = randomBytes(50_000, 1);
  const liar = "f".repeat(64);
  const base = join(dir, "docker/registry/v2/blobs/sha256");
  await mkdir(join(base, sha(good).slice(0, 2), sha(good)), { recursive: true });
  await writeFile(join(base, sha(good).slice(0, 2), sha(good), "data"), good);
  await mkdir(join(base, "ff", liar), { recursive: true });
  await writeFile(join(base, "ff", liar, "data"), randomBytes(50_000, 2));
  const result = await runCli(["add", "--store", join(dir, "s"), dir]);
  assertCleanError(result, new RegExp(`blob digest is sha256:[0-9a-f]{64}, not the stated sha256:${liar}`));
  assert.deepEqual(digests(result.stdout), [sha(good)]);
  const stats = JSON.parse((await runCli(["stats", "--store", join(dir, "s"), "--json"])).stdout);
  assert.equal(stats.blobs, 1);
});

test("errors are one clear line and a non-zero exit", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  assertCleanError(await runCli(["add", "--store", store, join(dir, "missing.tar")]), /missing\.tar: no such file or directory/);
  assertCleanError(await runCli(["checkout", "--store", store, "sha256:" + "0".repeat(64)]), /no store at/);
  await writeFile(join(dir, "f"), "x");
  assert.equal((await runCli(["add", "--store", store, join(dir, "f")])).code, 0);
  assertCleanError(await runCli(["checkout", "--store", store, "sha256:" + "0".repeat(64)]), /is not in the store/);
  assertCleanError(await runCli(["checkout", "--store", store, "not-a-digest"]), /not a sha256 digest/);
  assertCleanError(await runCli(["stats", "--store", join(dir, "f")]), /store/);
  assertCleanError(await runCli(["add", "--store", store, "--chunker", "fastcdc/32k", join(dir, "f")]), /already exists with other chunking settings/);
  assertCleanError(await runCli(["add", "--store", join(dir, "s2"), "--chunker", "magic/1", join(dir, "f")]), /bad --chunker/);
});

test("verify finds a damaged pack and exits non-zero", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  await writeFile(join(dir, "blob"), randomBytes(400_000, 9));
  assert.equal((await runCli(["add", "--store", store, "--compression", "none", join(dir, "blob")])).code, 0);
  const packs = await readdir(join(store, "packs"));
  const pack = join(store, "packs", packs[0]!);
  const bytes = await readFile(pack);
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
  await writeFile(pack, bytes);
  const result = await runCli(["verify", "--store", store]);
  assert.notEqual(result.code, 0);
  assert.match(result.stdout, /damaged chunk [0-9a-f]{64}: content does not match its id/);
  assert.match(result.stdout, /damaged blob sha256:/);
});

function digests(stdout: string): string[] {
  return stdout
    .trim()
    .split("\n")
    .map((line) => /^sha256:([0-9a-f]{64})/.exec(line)![1]!)
    .sort();
}

test("verify --seal seals the recipes of a store from before the seal, which then read back proven", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  const blob = randomBytes(300_000, 31);
  await writeFile(join(dir, "a.tar"), blob);
  assert.equal((await runCli(["add", "--store", store, join(dir, "a.tar")])).code, 0);
  const digest = `sha256:${sha(blob)}`;
  // The record as a release before the seal wrote it: version 1, straight into the store's LMDB.
  const root = openLmdb({ path: join(store, "store.mdb"), maxDbs: 8 });
  const recipes = root.openDB<Buffer, string>({ name: "recipes", encoding: "binary" });
  await recipes.put(digest, encodeRecipe(decodeRecipe(digest, recipes.getBinary(digest)!), { sealed: false }));
  await root.close();
  const proven = async () => {
    const opened = await openStore(store);
    try {
      return (await opened.getRecipe(digest))!.proven;
    } finally {
      await opened.close();
    }
  };
  assert.equal(await proven(), false);

  const checked = await runCli(["verify", "--store", store]);
  assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /all intact\n1 recipes have no seal .*verify --seal seals them/);
  assert.equal(await proven(), false, "plain verify writes nothing");
  const sealed = await runCli(["verify", "--store", store, "--seal"]);
  assert.equal(sealed.code, 0, sealed.stdout + sealed.stderr);
  assert.match(sealed.stdout, /all intact\nsealed 1 recipes\n$/);
  assert.equal(await proven(), true);
  const out = await runCli(["checkout", "--store", store, digest]);
  assert.ok(Buffer.from(out.stdout, "latin1").equals(blob));
});
