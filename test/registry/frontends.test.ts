import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes, runCli, tempDir } from "../helpers.js";
import { startCassandra, type CassandraCluster } from "../cassandra/servers.js";
import { startRedis, startRedisCluster, type RedisServer } from "../redis/servers.js";
import { assertStoreDown, makeImage, OCI_MANIFEST, pullBlob, pushAfterOutage, pushManifest, serveCli, sha256, startFrontends } from "./harness.js";

/**
 * Several `docker-dedup serve` processes on one shared store behave as one registry, and an
 * outage of the store's server turns into fast 503s and a log line, then heals by itself: the
 * same scenarios on Redis Cluster and on Cassandra.
 */
interface SharedBackend {
  /** A store location of its own for `name`, on the suite's servers. */
  store(name: string): string;
  /** How serve's first line names such a store. */
  shownAs: RegExp;
  /** A store whose only server the outage scenario kills and restarts, and how long to wait for it to come back. */
  outage(): { store: string; kill(): Promise<void>; restart(): Promise<void>; timeoutMs: number; intervalMs: number };
}

function redisBackend(): SharedBackend {
  let cluster: RedisServer | undefined;
  let single: RedisServer | undefined;
  before(async () => {
    cluster = await startRedisCluster(3, 1);
    single = await startRedis({ durable: true });
  });
  after(async () => {
    await cluster?.stop();
    await single?.stop();
  });
  return {
    store: (name) => `${cluster!.url}?prefix=${name}`,
    shownAs: /\(store redis-cluster:\/\/[\d.:,]+\?prefix=configured\)/,
    outage: () => ({ store: single!.url, kill: () => single!.nodes[0]!.kill(), restart: () => single!.nodes[0]!.restart(), timeoutMs: 10_000, intervalMs: 100 }),
  };
}

function cassandraBackend(): SharedBackend {
  let server: CassandraCluster | undefined;
  // batch: a write is acknowledged once in the commit log on disk, so the crash of the outage
  // scenario loses none (with Cassandra's default, periodic, a single node's SIGKILL loses up to 10 s of them).
  before(async () => void (server = await startCassandra({ commitlogSync: "batch" })), { timeout: 300_000 });
  after(() => server?.stop());
  return {
    store: (name) => server!.url(name),
    shownAs: /\(store cassandra:\/\/127\.0\.0\.1:\d+\/configured\)/,
    outage: () => ({ store: server!.url("outage"), kill: () => server!.nodes[0]!.kill(), restart: () => server!.nodes[0]!.restart(), timeoutMs: 60_000, intervalMs: 250 }),
  };
}

const backends: [string, () => SharedBackend][] = [
  ["Redis Cluster", redisBackend],
  ["Cassandra", cassandraBackend],
];

for (const [name, setUp] of backends) {
  describe(`frontends on one ${name}`, () => {
    const backend = setUp();

    it("an image pushed through one frontend pulls byte-exact through the others", async (t) => {
      const store = backend.store("image");
      const [a, b] = await startFrontends(t, store, 2);
      const layer = randomBytes(3 << 20, 11);
      const image = await makeImage(a!.url, "team/app", { layers: [layer] });
      assert.equal((await pushManifest(a!.url, "team/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
      const manifest = await fetch(`${b!.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
      assert.equal(manifest.status, 200);
      assert.equal(await manifest.text(), image.manifest);
      assert.ok((await pullBlob(b!.url, "team/app", image.blobs[1]!)).equals(layer));
      assert.deepEqual(await (await fetch(`${b!.url}/v2/team/app/tags/list`)).json(), { name: "team/app", tags: ["v1"] });
      assert.deepEqual(await (await fetch(`${a!.url}/v2/_catalog`)).json(), { repositories: ["team/app"] });
      const verify = await runCli(["verify", "--store", store]);
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    });

    it("two frontends pushing layers that share chunks at once store each chunk once", async (t) => {
      const store = backend.store("shared");
      const [a, b] = await startFrontends(t, store, 2);
      const base = randomBytes(4 << 20, 21);
      const layers = [Buffer.concat([base, randomBytes(1 << 20, 22)]), Buffer.concat([base, randomBytes(1 << 20, 23)])];
      const pushes = await Promise.all(
        layers.map((layer, i) => fetch(`${[a!, b!][i]!.url}/v2/team/shared/blobs/uploads/?digest=${sha256(layer)}`, { method: "POST", body: new Uint8Array(layer) })),
      );
      for (const res of pushes) assert.equal(res.status, 201, await res.text());
      for (const [i, layer] of layers.entries()) assert.ok((await pullBlob([b!, a!][i]!.url, "team/shared", sha256(layer))).equals(layer));
      const stats = JSON.parse((await runCli(["stats", "--json", "--store", store])).stdout) as { uniqueBytes: number; logicalBytes: number };
      // Every distinct chunk once: the base once and both tails, give or take the chunks where they meet.
      assert.ok(stats.uniqueBytes < base.length + 2 * (1 << 20) + 4 * 65_536, `distinct bytes ${stats.uniqueBytes}`);
      assert.equal(stats.logicalBytes, layers[0]!.length + layers[1]!.length);
    });

    it("takes its store from serve's config file", async (t) => {
      const file = join(await tempDir(t), "serve.json");
      await writeFile(file, JSON.stringify({ store: backend.store("configured") }));
      const frontend = await serveCli(t, ["--config", file]);
      assert.match(frontend.stderr(), backend.shownAs);
    });

    it("answers 503 at once while its store is down, logs it, and serves again when it is back", async (t) => {
      const outage = backend.outage();
      const frontend = await serveCli(t, ["--store", outage.store]);
      const layer = randomBytes(1 << 20, 41);
      const image = await makeImage(frontend.url, "team/outage", { layers: [layer] });
      await outage.kill();
      await assertStoreDown(frontend, image.blobs[1]!);
      await outage.restart();
      await pushAfterOutage(frontend.url, outage.timeoutMs, outage.intervalMs);
      assert.match(frontend.stderr(), /connected again/);
      assert.ok((await pullBlob(frontend.url, "team/outage", image.blobs[1]!)).equals(layer));
    });
  });
}

describe("frontends on one Redis Cluster, failing over", () => {
  let cluster: RedisServer;
  before(async () => void (cluster = await startRedisCluster(3, 1)));
  after(() => cluster.stop());

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
