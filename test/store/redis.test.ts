import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@redis/client";
import { isDedupError } from "../../src/errors.js";
import { openStore } from "../../src/store/open.js";
import { parseRedisUrl } from "../../src/store/redis/connection.js";
import { storedMemory } from "../../src/store/redis/redis-store.js";
import type { Store, StoredChunk } from "../../src/store/types.js";
import { eventually } from "../helpers.js";
import { masterOf, startRedis, startRedisCluster, type RedisServer } from "../redis/servers.js";
import { layerLikeChunks } from "./chunks.js";

async function packBytes(server: RedisServer, prefix: string): Promise<number> {
  const client = createClient({ url: `redis://127.0.0.1:${server.nodes[0]!.port}` });
  await client.connect();
  try {
    let total = 0;
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:p:*`, COUNT: 1000 })) {
      for (const key of keys) total += await client.strLen(key);
    }
    return total;
  } finally {
    await client.close();
  }
}

async function usedMemory(server: RedisServer): Promise<number> {
  const client = createClient({ url: `redis://127.0.0.1:${server.nodes[0]!.port}` });
  await client.connect();
  try {
    return storedMemory(await client.info("memory"));
  } finally {
    await client.close();
  }
}

describe("redis store URLs", () => {
  it("parse into nodes, database, prefix and a location without credentials", () => {
    assert.deepEqual(parseRedisUrl("redis://u:p%40ss@cache:6380/2?prefix=reg"), {
      cluster: false, nodes: [{ host: "cache", port: 6380 }], db: 2, username: "u", password: "p@ss", prefix: "reg", location: "redis://cache:6380/2?prefix=reg",
    });
    const cluster = parseRedisUrl("redis-cluster://10.0.0.1:7000,10.0.0.2,[::1]:7002");
    assert.deepEqual(cluster.nodes, [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 6379 }, { host: "::1", port: 7002 }]);
    assert.equal(cluster.prefix, "dd");
    assert.throws(() => parseRedisUrl("redis://a:1,b:2"), /one address/);
    assert.throws(() => parseRedisUrl("redis-cluster://a:1/3"), /only database 0/);
    assert.throws(() => parseRedisUrl("redis://a:1?prefix=a*b"), /prefix must be/);
    assert.throws(() => parseRedisUrl("redis://user:secret@a:x"), (error: Error) => !error.message.includes("secret"));
  });
});

describe("redis store", () => {
  let server: RedisServer;
  before(async () => void (server = await startRedis()));
  after(() => server.stop());

  it("two frontends writing the same chunks at once store each chunk's bytes once", async (t) => {
    const url = `${server.url}?prefix=twice`;
    const [a, b] = await Promise.all([openStore(url, { create: true }), openStore(url, { create: true })]);
    t.after(() => Promise.all([a.close(), b.close()]));
    const shared = layerLikeChunks(300, 1);
    await Promise.all([a.putChunks(shared), b.putChunks(shared.slice(100)), b.putChunks(shared.slice(0, 150))]);
    const bytes = shared.reduce((sum, c) => sum + c.data.length, 0);
    assert.equal(await packBytes(server, "twice"), bytes);
    const back = await b.getChunks(shared.map((c) => c.id));
    back.forEach((data, i) => assert.ok(Buffer.from(data!).equals(shared[i]!.data)));
  });

  it("takes over the chunks of a writer that claimed them and died", async (t) => {
    const url = `${server.url}?prefix=orphan`;
    const store = await openStore(url, { create: true });
    t.after(() => store.close());
    const [first] = layerLikeChunks(1, 2);
    const client = createClient({ url: server.url });
    await client.connect();
    // A claim as a writer leaves it: "?" and a token, expiring.
    await client.set(Buffer.concat([Buffer.from("orphan:c:"), first!.id]), "?deadbeef", { PX: 300 });
    await client.close();
    await store.putChunks([first!]);
    assert.deepEqual(await store.hasChunks([first!.id]), [true]);
  });

  it("costs Redis at most 1.1 bytes of memory per stored chunk byte", async (t) => {
    const before = await usedMemory(server);
    const store = await openStore(`${server.url}?prefix=memory`, { create: true });
    t.after(() => store.close());
    let stored = 0;
    for (let batch = 0; batch < 10; batch++) {
      const some = layerLikeChunks(400, 10 + batch);
      await store.putChunks(some);
      stored += some.reduce((sum, c) => sum + c.data.length, 0);
    }
    const ratio = (await usedMemory(server) - before) / stored;
    t.diagnostic(`${stored} stored bytes cost ${(ratio * stored).toFixed(0)} bytes of Redis memory: ${ratio.toFixed(3)} per byte`);
    assert.ok(ratio <= 1.1, `ratio ${ratio}`);
  });

  it("fails with STORE_UNAVAILABLE while Redis is down and recovers by itself", async (t) => {
    const store = await openStore(`${server.url}?prefix=outage`, { create: true });
    t.after(() => store.close());
    const some = layerLikeChunks(5, 3);
    await store.putChunks(some);
    await server.nodes[0]!.kill();
    await assert.rejects(store.getChunks([some[0]!.id]), (error) => isDedupError(error, "STORE_UNAVAILABLE") && /unavailable/.test(error.message));
    await assert.rejects(store.putMeta("k", Buffer.from("v")), (error) => isDedupError(error, "STORE_UNAVAILABLE"));
    await server.nodes[0]!.restart();
    await eventually(async () => {
      await store.putChunks(some);
      assert.deepEqual(await store.hasChunks([some[0]!.id]), [true]);
    });
  });
});

describe("redis cluster store", () => {
  let cluster: RedisServer;
  before(async () => void (cluster = await startRedisCluster(3, 1)));
  after(() => cluster.stop());

  it("reads through the failover of a master that holds its chunks", async (t) => {
    const store: Store = await openStore(`${cluster.url}?prefix=failover`, { create: true });
    t.after(() => store.close());
    const some = layerLikeChunks(200, 4);
    await store.putChunks(some);
    const victim = await masterOf(cluster, Buffer.concat([Buffer.from("failover:c:"), some[0]!.id]));
    await victim.kill();
    const back = await store.getChunks(some.map((c) => c.id));
    back.forEach((data, i) => assert.ok(data !== undefined && Buffer.from(data).equals(some[i]!.data), `chunk ${i}`));
  });
});
