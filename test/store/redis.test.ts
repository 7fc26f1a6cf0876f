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

function sameChunks(got: (Uint8Array | undefined)[], want: StoredChunk[]): void {
  assert.equal(got.length, want.length);
  got.forEach((data, i) => assert.ok(data !== undefined && Buffer.from(data).equals(want[i]!.data), `chunk ${i}`));
}

const bytesOf = (chunks: StoredChunk[]) => chunks.reduce((sum, c) => sum + c.data.length, 0);
const idsOf = (chunks: StoredChunk[]) => chunks.map((c) => c.id);

/**
 * Three frontends on one store: three quarters of its chunks deleted, then two compactions at
 * once while one frontend reads the chunks kept over and over and another writes new ones.
 * Every read succeeds, every chunk kept or written reads back, what the two compactions left
 * (a copy whose entries the other one switched) goes with the next, and Redis memory goes down.
 */
async function compactUnderLoad(t: { after(fn: () => unknown): void; diagnostic(message: string): void }, url: string): Promise<void> {
  const a = await openStore(url, { create: true });
  const [b, c] = await Promise.all([openStore(url), openStore(url)]);
  t.after(() => Promise.all([a.close(), b.close(), c.close()]));
  const kept: StoredChunk[] = [];
  const dropped: StoredChunk[] = [];
  for (let batch = 0; batch < 8; batch++) {
    const some = layerLikeChunks(100, 20 + batch);
    await a.putChunks(some);
    some.forEach((chunk, i) => (i % 4 === 0 ? kept : dropped).push(chunk));
  }
  await a.doomChunks(idsOf(dropped), 1);
  assert.equal((await a.deleteDoomedChunks(idsOf(dropped), 1)).chunks, dropped.length);
  const before = (await a.usage()).backendBytes;

  // Eight readers at once: some read an entry just before its switch and the pack after its DEL.
  let compacting = true;
  let reads = 0;
  const reader = Promise.all(Array.from({ length: 8 }, async () => {
    while (compacting) {
      for (let at = 0; at < kept.length; at += 50, reads++) sameChunks(await b.getChunks(idsOf(kept.slice(at, at + 50))), kept.slice(at, at + 50));
    }
  }));
  const written: StoredChunk[] = [];
  const writer = (async () => {
    for (let batch = 0; batch < 10; batch++) {
      const some = layerLikeChunks(20, 100 + batch);
      await c.putChunks(some);
      written.push(...some);
    }
  })();
  const [first, second] = await Promise.all([a.compact(0.5), b.compact(0.5)]).finally(() => (compacting = false));
  await Promise.all([reader, writer]);
  const rest = await a.compact(1);
  assert.deepEqual(await a.compact(1), { packs: 0, freedBytes: 0 }, "every pack holds only live records");

  sameChunks(await a.getChunks(idsOf(kept)), kept);
  sameChunks(await a.getChunks(idsOf(written)), written);
  assert.deepEqual(await a.getChunks(idsOf(dropped.slice(0, 5))), [undefined, undefined, undefined, undefined, undefined]);
  const freed = first.freedBytes + second.freedBytes + rest.freedBytes;
  assert.ok(freed >= bytesOf(dropped), `freed ${freed} of ${bytesOf(dropped)}`);
  // Client buffers count as used memory until Redis's cron books them to the clients: a moment.
  const after = await eventually(async () => {
    const now = (await a.usage()).backendBytes;
    assert.ok(now < before - bytesOf(dropped) / 2 + 1.2 * bytesOf(written), `Redis memory ${before} -> ${now}`);
    return now;
  }, 10_000, 250);
  t.diagnostic(`compactions rewrote ${first.packs} + ${second.packs} + ${rest.packs} packs, freed ${freed} bytes during ${reads} reads; Redis memory ${before} -> ${after} bytes (${bytesOf(written)} bytes written meanwhile)`);
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

  it("a put of a doomed chunk makes it live again at once, in place", async (t) => {
    const store = await openStore(`${server.url}?prefix=revive`, { create: true });
    t.after(() => store.close());
    const some = layerLikeChunks(10, 7);
    await store.putChunks(some);
    const bytes = await packBytes(server, "revive");
    await store.doomChunks(idsOf(some), 5);
    assert.deepEqual(await store.hasChunks(idsOf(some)), some.map(() => false));
    await store.putChunks(some);
    assert.deepEqual(await store.hasChunks(idsOf(some)), some.map(() => true));
    assert.equal(await packBytes(server, "revive"), bytes, "no second copy");
    assert.deepEqual(await store.deleteDoomedChunks(idsOf(some), Date.now()), { chunks: 0, bytes: 0 });
    sameChunks(await store.getChunks(idsOf(some)), some);
  });

  it("compaction leaves alone a pack being written, and removes it once its writer is long gone", async (t) => {
    const store = await openStore(`${server.url}?prefix=writing`, { create: true });
    t.after(() => store.close());
    const client = createClient({ url: server.url });
    await client.connect();
    t.after(() => client.close());
    // A writer's pack, registered, whose index entries are not written yet.
    const id = Buffer.from("0123456789abcdef", "hex");
    await client.set("writing:p:0123456789abcdef", Buffer.alloc(1000, 1));
    await client.sendCommand(["ZADD", "{writing}:writing", String(Date.now()), id]);
    assert.deepEqual(await store.compact(0.5), { packs: 0, freedBytes: 0 });
    assert.equal(await client.exists("writing:p:0123456789abcdef"), 1);
    // Registered two hours ago: the writer died.
    await client.sendCommand(["ZADD", "{writing}:writing", String(Date.now() - 2 * 3_600_000), id]);
    assert.deepEqual(await store.compact(0.5), { packs: 1, freedBytes: 1000 });
    assert.equal(await client.exists("writing:p:0123456789abcdef"), 0);
    assert.equal(await client.zCard("{writing}:writing"), 0);
  });

  it("compacts beside readers, a writer and another compaction", async (t) => {
    await compactUnderLoad(t, `${server.url}?prefix=compact`);
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

  it("compacts beside readers, a writer and another compaction", async (t) => {
    await compactUnderLoad(t, `${cluster.url}?prefix=compact`);
  });

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
