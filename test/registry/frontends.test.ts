import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, runCli, tempDir } from "../helpers.js";
import { startRedis, startRedisCluster, type RedisServer } from "../redis/servers.js";
import { assertStoreDown, makeImage, OCI_MANIFEST, pullBlob, pushManifest, serveCli, sha256, startFrontends, pushAfterOutage } from "./harness.js";

/**
 * Several `docker-dedup serve` processes on one Redis Cluster behave as one registry, and a
 * Redis outage turns into fast 503s and a log line, then heals by itself.
 */

/** Pseudo-random bytes with long shared runs: `base` followed by a tail of its own. */
function layerSharing(base: Buffer, tailSeed: number, tail = 1 << 20): Buffer {
  return Buffer.concat([base, randomBytes(tail, tailSeed)]);
}

describe("frontends on one Redis Cluster", () => {
  let cluster: RedisServer;
  before(async () => void (cluster = await startRedisCluster(3, 1)));
  after(() => cluster.stop());

  it("an image pushed through one frontend pulls byte-exact through the others", async (t) => {
    const store = `${cluster.url}?prefix=image`;
    const [a, b, c] = await startFrontends(t, store, 3);
    const layer = randomBytes(3 << 20, 11);
    const image = await makeImage(a!.url, "team/app", { layers: [layer] });
    assert.equal((await pushManifest(a!.url, "team/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
    for (const frontend of [b!, c!]) {
      const manifest = await fetch(`${frontend.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(manifest.status, 200);
      assert.equal(await manifest.text(), image.manifest);
      assert.ok((await pullBlob(frontend.url, "team/app", image.blobs[1]!)).equals(layer));
    }
    const tags = await (await fetch(`${c!.url}/v2/team/app/tags/list`)).json();
    assert.deepEqual(tags, { name: "team/app", tags: ["v1"] });
  });

  it("two frontends pushing layers that share chunks at once store each chunk once", async (t) => {
    const store = `${cluster.url}?prefix=shared`;
    const [a, b] = await startFrontends(t, store, 2);
    const base = randomBytes(6 << 20, 21);
    const layers = [layerSharing(base, 22), layerSharing(base, 23)];
    const pushes = await Promise.all(
      layers.map((layer, i) =>
        fetch(`${[a!, b!][i]!.url}/v2/team/shared/blobs/uploads/?digest=${sha256(layer)}`, { method: "POST", body: new Uint8Array(layer) }),
      ),
    );
    for (const res of pushes) assert.equal(res.status, 201, await res.text());
    for (const [i, layer] of layers.entries()) assert.ok((await pullBlob([b!, a!][i]!.url, "team/shared", sha256(layer))).equals(layer));

    const stats = JSON.parse((await runCli(["stats", "--json", "--store", store])).stdout) as { chunks: number; uniqueBytes: number; logicalBytes: number };
    // Every distinct chunk once: the distinct bytes are the base once and both tails, give or
    // take the chunks that straddle where base and tail meet.
    assert.ok(stats.uniqueBytes < base.length + 2 * (1 << 20) + 4 * 65_536, `distinct bytes ${stats.uniqueBytes}`);
    assert.equal(stats.logicalBytes, layers[0]!.length + layers[1]!.length);
    const verify = await runCli(["verify", "--store", store]);
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);
  });

  it("a pull running when a master dies completes after the failover", async (t) => {
    const store = `${cluster.url}?prefix=failover`;
    const [a, b] = await startFrontends(t, store, 2);
    const layer = randomBytes(24 << 20, 31);
    const image = await makeImage(a!.url, "team/big", { layers: [layer] });
    // The chunk cache would serve the pull from memory: pull from the frontend that did not push.
    const res = await fetch(`${b!.url}/v2/team/big/blobs/${image.blobs[1]}`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    const first = await reader.read();
    parts.push(first.value!);
    await cluster.nodes[0]!.kill(); // nodes[0] was created a master
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) parts.push(next.value);
    } catch (error) {
      throw new Error(`the pull broke; the frontend said: ${b!.stderr()}`, { cause: error });
    }
    assert.equal(sha256(Buffer.concat(parts)), image.blobs[1]);
  });
});

describe("a frontend whose Redis goes away", () => {
  let redis: RedisServer;
  before(async () => void (redis = await startRedis({ durable: true })));
  after(() => redis.stop());

  it("takes its store from serve's config file", async (t) => {
    const file = join(await tempDir(t), "serve.json");
    await writeFile(file, JSON.stringify({ store: `${redis.url}?prefix=configured` }));
    const frontend = await serveCli(t, ["--config", file]);
    assert.match(frontend.stderr(), /\(store redis:\/\/127\.0\.0\.1:\d+\?prefix=configured\)/);
  });

  it("answers 503 at once, logs it, and serves again when Redis is back", async (t) => {
    const [frontend] = [await serveCli(t, ["--store", redis.url])];
    const layer = randomBytes(1 << 20, 41);
    const image = await makeImage(frontend.url, "team/outage", { layers: [layer] });
    await redis.nodes[0]!.kill();

    await assertStoreDown(frontend, image.blobs[1]!);

    await redis.nodes[0]!.restart();
    await pushAfterOutage(frontend.url, 10000, 100);
    assert.match(frontend.stderr(), /connected again/);
    assert.ok((await pullBlob(frontend.url, "team/outage", image.blobs[1]!)).equals(layer));
  });
});
