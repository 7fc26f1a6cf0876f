import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openStore } from "../../src/store/open.js";
import { pushImage, startReferenceRegistry } from "../e2e/reference-registry.js";
import { randomBytes, runCli, tempDir } from "../helpers.js";
import { pushBlob, serveCli, sha256, type ServeProcess } from "../registry/harness.js";

/**
 * `verify --repair`: damaged chunks fetched again from the mirror's upstream or a peer site,
 * proven by their ids; where no source has them, the repositories and tags that lost data named.
 */

const SECRET = "a peer secret long enough for the sites";

/** Overwrites two chunks of the blob in the middle with other bytes, as a disk error would. */
async function damage(location: string, digest: string): Promise<void> {
  const store = await openStore(location);
  try {
    const recipe = (await store.getRecipe(digest))!;
    const ids = [recipe.ids[Math.floor(recipe.ids.length / 3)]!, recipe.ids[Math.floor((2 * recipe.ids.length) / 3)]!];
    const data = await store.getChunks(ids);
    await store.replaceChunks(ids.map((id, i) => {
      const damaged = Buffer.from(data[i]!);
      for (let k = 0; k < 64; k++) damaged[Math.floor(damaged.length / 2) + k]! ^= 0x5a;
      return { id, data: damaged };
    }));
  } finally {
    await store.close();
  }
}

async function stopped(serve: ServeProcess): Promise<void> {
  serve.child.kill("SIGTERM");
  await serve.exited;
}

test("a damaged layer of a mirrored image is fetched again from the upstream; without a source, its repository and tag are named", async (t) => {
  const dir = await tempDir(t);
  const upstream = await startReferenceRegistry(t);
  const layer = randomBytes(4 << 20, 31);
  await pushImage(upstream.url, "team/app", "v1", [layer]);
  const store = join(dir, "store");
  const mirror = await serveCli(t, ["--store", store, "--upstream", `up=${upstream.url}`]);
  for (const path of ["manifests/v1", `blobs/${sha256(layer)}`]) assert.equal((await fetch(`${mirror.url}/v2/up/team/app/${path}`)).status, 200, path);
  await stopped(mirror);
  await damage(store, sha256(layer));

  const found = await runCli(["verify", "--store", store]);
  assert.notEqual(found.code, 0);
  assert.match(found.stdout, /damaged chunk/);
  const sourceless = await runCli(["verify", "--store", store, "--repair"]);
  assert.notEqual(sourceless.code, 0);
  assert.match(sourceless.stdout, new RegExp(`lost blob ${sha256(layer)}`));
  assert.match(sourceless.stdout, /lost data in repository up\/team\/app: tags v1/);

  const config = join(dir, "mirror.json");
  await writeFile(config, JSON.stringify({ mirrors: [{ namespace: "up", upstream: upstream.url }] }));
  const repaired = await runCli(["verify", "--store", store, "--repair", "--config", config]);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.match(repaired.stdout, /repaired 2 chunks from upstream/);
  assert.match(repaired.stdout, new RegExp(`repaired blob ${sha256(layer)}`));
  const clean = await runCli(["verify", "--store", store]);
  assert.equal(clean.code, 0, clean.stdout);
  assert.match(clean.stdout, /all intact/);
});

test("a damaged chunk is fetched again from a peer site that holds it", async (t) => {
  const dir = await tempDir(t);
  const secret = join(dir, "secret");
  await writeFile(secret, SECRET);
  const layer = randomBytes(4 << 20, 32);
  const peer = await serveCli(t, ["--store", join(dir, "b"), "--site", "b", "--peer-listen", "127.0.0.1:0", "--peer-secret-file", secret], { until: /peer API on http:\/\/[^\s;]+/ });
  const peerApi = /peer API on (http:\/\/[^\s;]+)/.exec(peer.stderr())![1]!;
  await pushBlob(peer.url, "team/app", layer);
  const store = join(dir, "a");
  const local = await serveCli(t, ["--store", store]);
  await pushBlob(local.url, "team/app", layer);
  await stopped(local);
  await damage(store, sha256(layer));

  const config = join(dir, "site.json");
  await writeFile(config, JSON.stringify({ site: "a", peerListen: "127.0.0.1:0", peerSecretFile: secret, peers: [{ name: "b", url: peerApi }] }));
  const repaired = await runCli(["verify", "--store", store, "--repair", "--config", config]);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.match(repaired.stdout, /repaired 2 chunks from site b/);
  assert.match((await runCli(["verify", "--store", store])).stdout, /all intact/);
});
