import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import cassandra from "cassandra-driver";
import { isDedupError } from "../../src/errors.js";
import { parseCassandraUrl } from "../../src/store/cassandra/address.js";
import { familiesFor, familyOf } from "../../src/store/cassandra/meta-scan.js";
import { RECIPE_PART, tableId } from "../../src/store/cassandra/schema.js";
import { openStore } from "../../src/store/open.js";
import type { Store, StoredChunk } from "../../src/store/types.js";
import { eventually, REPO_ROOT } from "../helpers.js";
import { startCassandra, type CassandraCluster, type CassandraNode } from "../cassandra/servers.js";
import { layerLikeChunks } from "./chunks.js";

/**
 * The Cassandra store beyond the contract (backends.test.ts): URLs, recipes in parts, metadata
 * scans across key families, concurrent writers, an outage of the only node, and a 3-node cluster
 * (replication 3, QUORUM) losing one node in the middle of a push and of a pull.
 */

function recipeOf(digest: string, some: StoredChunk[]) {
  return { digest, size: some.length * 100, ids: some.map((c) => c.id), lengths: Uint32Array.from(some, () => 100) };
}

/** Runs test/cassandra/open-child.ts, a frontend's start in a process of its own; its exit code and what it printed. */
function startFrontend(url: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, "dist", "test", "cassandra", "open-child.js"), url], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (data) => (stderr += data));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stderr })));
}

function sameChunks(got: (Uint8Array | undefined)[], want: StoredChunk[]): void {
  assert.equal(got.length, want.length);
  got.forEach((data, i) => assert.ok(data !== undefined && Buffer.from(data).equals(want[i]!.data), `chunk ${i}`));
}

describe("cassandra store URLs", () => {
  it("parse into contact points, keyspace, replication, consistency and dc", () => {
    assert.deepEqual(parseCassandraUrl("cassandra://u:p%40ss@10.0.0.1:9043,10.0.0.2:9043/Registry?replication=3&consistency=local_quorum&dc=east"), {
      contactPoints: ["10.0.0.1:9043", "10.0.0.2:9043"],
      port: 9043,
      keyspace: "registry",
      replication: 3,
      consistency: "LOCAL_QUORUM",
      dc: "east",
      username: "u",
      password: "p@ss",
      location: "cassandra://10.0.0.1:9043,10.0.0.2:9043/registry?replication=3&consistency=local_quorum&dc=east",
    });
    const plain = parseCassandraUrl("cassandra://db1,db2/dd");
    assert.deepEqual(plain.contactPoints, ["db1:9042", "db2:9042"]);
    assert.equal(plain.replication, 1);
    assert.equal(plain.consistency, "QUORUM");
    assert.equal(plain.dc, undefined);
    assert.throws(() => parseCassandraUrl("cassandra://db:9042"), /KEYSPACE/);
    assert.throws(() => parseCassandraUrl("cassandra://db1:9042,db2:9043/k"), /same CQL port/);
    assert.throws(() => parseCassandraUrl("cassandra://db/1x"), /keyspace must be/);
    assert.throws(() => parseCassandraUrl("cassandra://db/k?replication=0"), /replication must be/);
    assert.throws(() => parseCassandraUrl("cassandra://db/k?consistency=most"), /consistency must be/);
    assert.throws(() => parseCassandraUrl("cassandra://db/k?prefix=x"), /unknown parameter/);
    assert.throws(() => parseCassandraUrl("cassandra://user:secret@db:x/k"), (error: Error) => !error.message.includes("secret"));
  });

  it("map metadata keys to families, and prefixes to the families they may span", () => {
    assert.equal(familyOf("registry/tag/a/b:v1"), "registry/tag/");
    assert.equal(familyOf("store/settings"), "store/");
    assert.equal(familyOf("plain"), "");
    const known = ["registry/tag/", "registry/repo/", "sites/log/", "store/", ""];
    assert.deepEqual(familiesFor("registry/tag/app:", known), ["registry/tag/", ""]);
    assert.deepEqual(familiesFor("registry/", known), ["registry/tag/", "registry/repo/", ""]);
    assert.equal(tableId("dd", "chunks"), tableId("dd", "chunks"));
    assert.notEqual(tableId("dd", "chunks"), tableId("dd", "recipes"));
  });
});

describe("cassandra store on one node", () => {
  let server: CassandraCluster;
  let keyspaces = 0;
  const fresh = () => server.url(`s${++keyspaces}`);
  before(async () => void (server = await startCassandra()), { timeout: 300_000 });
  after(() => server?.stop());

  it("stores recipes larger than a part, and reads the newest of two writes", async (t) => {
    const store = await openStore(fresh(), { create: true });
    t.after(() => store.close());
    const some = layerLikeChunks(40, 1);
    // 20 000 entries of 36 bytes: three parts.
    const many = Array.from({ length: 20_000 }, (_, i) => some[i % some.length]!);
    assert.ok(20_000 * 36 > 2 * RECIPE_PART);
    await store.putRecipe(recipeOf("sha256:big", many));
    const back = await store.getRecipe("sha256:big");
    assert.equal(back?.ids.length, 20_000);
    assert.ok(back!.ids[19_999]!.equals(many[19_999]!.id));
    await store.putRecipe(recipeOf("sha256:big", some));
    assert.equal((await store.getRecipe("sha256:big"))?.ids.length, 40);
    const scanned: number[] = [];
    for await (const recipe of store.scanRecipes()) scanned.push(recipe.ids.length);
    assert.deepEqual(scanned, [40]);
    await store.deleteRecipe("sha256:big");
    assert.equal(await store.getRecipe("sha256:big"), undefined);
  });

  it("scans metadata in byte order across key families, paging through long ones", async (t) => {
    const store = await openStore(fresh(), { create: true });
    t.after(() => store.close());
    const keys = ["a", "a-b/z", "a/x", "a/x/0/deeper", "a/x/1", "a/y/2", "b/c/d", "a/\u{1F600}", "a/\uFFFD"];
    for (const key of keys) await store.putMeta(key, Buffer.from(key));
    const scan = async (prefix: string, after?: string) => {
      const found: string[] = [];
      for await (const [key, value] of store.scanMeta(prefix, after)) {
        assert.equal(value.toString(), key);
        found.push(key);
      }
      return found;
    };
    // UTF-8 byte order: U+FFFD (EF BF BD) before U+1F600 (F0 9F 98 80), unlike UTF-16's.
    assert.deepEqual(await scan("a"), ["a", "a-b/z", "a/x", "a/x/0/deeper", "a/x/1", "a/y/2", "a/\uFFFD", "a/\u{1F600}"]);
    assert.deepEqual(await scan("a/", "a/x/0"), ["a/x/0/deeper", "a/x/1", "a/y/2", "a/\uFFFD", "a/\u{1F600}"]);
    assert.deepEqual(await scan("a/x/"), ["a/x/0/deeper", "a/x/1"]);
    await store.deleteMeta("a/x/1");
    assert.deepEqual(await scan("a/x/"), ["a/x/0/deeper"]);
    assert.equal(await store.getMeta("a/x/1"), undefined);

    const tags = Array.from({ length: 600 }, (_, i) => `registry/tag/app:v${String(i).padStart(4, "0")}`);
    await Promise.all(tags.map((key) => store.putMeta(key, Buffer.from(key))));
    assert.deepEqual(await scan("registry/tag/app:"), tags);
    assert.deepEqual(await scan("registry/tag/app:", tags[299]), tags.slice(300));
  });

  it("two stores writing the same chunks at once, stopped and restarted: every chunk once, the disk holds one copy", async (t) => {
    const url = fresh();
    const [a, b] = await Promise.all([openStore(url, { create: true }), openStore(url, { create: true })]);
    t.after(() => Promise.all([a.close(), b.close()]));
    const shared = layerLikeChunks(300, 2);
    await Promise.all([a.putChunks(shared), b.putChunks(shared.slice(100)), b.putChunks(shared.slice(0, 150))]);
    let count = 0;
    for await (const chunk of a.scanChunks()) count += chunk.id.length === 32 ? 1 : 0;
    assert.equal(count, 300);
    sameChunks(await b.getChunks(shared.map((c) => c.id)), shared);

    // A clean stop flushes the memtables to SSTables, which usage() measures.
    const node = server.nodes[0]!;
    await node.stop();
    await assert.rejects(a.getChunks([shared[0]!.id]), (error) => isDedupError(error, "STORE_UNAVAILABLE") && /is unavailable/.test(error.message));
    await assert.rejects(b.putMeta("k", Buffer.from("v")), (error) => isDedupError(error, "STORE_UNAVAILABLE"));
    await node.restart();
    // The driver reconnects by itself: the same store objects serve again.
    await eventually(async () => sameChunks(await a.getChunks(shared.map((c) => c.id)), shared), 60_000, 250);
    await eventually(() => b.putMeta("k", Buffer.from("v")), 60_000, 250);

    const stored = shared.reduce((sum, c) => sum + c.data.length, 0);
    // Each node is asked in turn; the driver may still count the restarted one down for a moment.
    const usage = await eventually(() => a.usage(), 60_000, 250);
    t.diagnostic(`${stored} stored bytes in ${usage.backendBytes} bytes of ${usage.backendKind}: ${(usage.backendBytes / stored).toFixed(3)} per byte`);
    assert.equal(usage.backendKind, "Cassandra disk");
    assert.ok(usage.backendBytes >= stored && usage.backendBytes < 1.15 * stored, `${usage.backendBytes} bytes on disk for ${stored}`);
  });

  it("a keyspace made before garbage collection gets its columns at open; its chunks are measured once, and doomed and deleted like new ones", async (t) => {
    const keyspace = `s${++keyspaces}`;
    const old = await openStore(server.url(keyspace), { create: true });
    await old.close();
    // Back to the schema of an older release: chunks without size and doomed_at, one row written by it.
    const client = new cassandra.Client({ contactPoints: server.contactPoints, localDataCenter: server.localDataCenter });
    await client.connect();
    t.after(() => client.shutdown());
    await client.execute(`ALTER TABLE ${keyspace}.chunks DROP doomed_at`);
    await client.execute(`ALTER TABLE ${keyspace}.chunks DROP size`);
    const [before, after] = layerLikeChunks(2, 5);
    await client.execute(`INSERT INTO ${keyspace}.chunks (id, data) VALUES (?, ?)`, [before!.id, before!.data], { prepare: true });

    const store = await openStore(server.url(keyspace));
    t.after(() => store.close());
    await store.putChunks([after!]);
    const listed = async () => {
      const entries: [string, number, number | undefined][] = [];
      for await (const batch of store.scanChunkEntries()) for (const e of batch) entries.push([e.id.toString("hex"), e.storedLength, e.doomedAt]);
      return entries.sort();
    };
    const expected = [before!, after!].map((c) => [c.id.toString("hex"), c.data.length, undefined] as [string, number, undefined]).sort();
    assert.deepEqual(await listed(), expected);
    // The old row's size was filled in by that scan.
    const row = (await client.execute(`SELECT size FROM ${keyspace}.chunks WHERE id = ?`, [before!.id], { prepare: true })).first();
    assert.equal(row?.["size"], before!.data.length);
    await store.doomChunks([before!.id, after!.id], 7);
    assert.deepEqual(await store.hasChunks([before!.id, after!.id]), [false, false]);
    assert.deepEqual(await store.deleteDoomedChunks([before!.id, after!.id], 7), { chunks: 2, bytes: before!.data.length + after!.data.length });
    assert.deepEqual(await listed(), []);
  });

  it("a put that revives a doomed chunk outlives a delete that read it doomed before", async (t) => {
    const keyspace = `s${++keyspaces}`;
    const store = await openStore(server.url(keyspace), { create: true });
    t.after(() => store.close());
    const [one] = layerLikeChunks(1, 6);
    await store.putChunks([one!]);
    await store.doomChunks([one!.id], 1);
    // A delete reads the row doomed; a put revives it; then the delete's write lands: it is
    // fenced at the doom's timestamp, so the revived row stays.
    const client = new cassandra.Client({ contactPoints: server.contactPoints, localDataCenter: server.localDataCenter });
    await client.connect();
    t.after(() => client.shutdown());
    const read = (await client.execute(`SELECT writetime(doomed_at) AS w FROM ${keyspace}.chunks WHERE id = ?`, [one!.id], { prepare: true })).first();
    await store.putChunks([one!]);
    await client.execute(`DELETE FROM ${keyspace}.chunks USING TIMESTAMP ? WHERE id = ?`, [read?.["w"], one!.id], { prepare: true });
    assert.deepEqual(await store.hasChunks([one!.id]), [true]);
    sameChunks(await store.getChunks([one!.id]), [one!]);
    assert.deepEqual(await store.deleteDoomedChunks([one!.id], Date.now()), { chunks: 0, bytes: 0 });
  });

  it("opening a store while the cluster is down fails at once with one line", async () => {
    await assert.rejects(openStore("cassandra://127.0.0.1:1/nothing", { create: true }), (error) => {
      assert.ok(isDedupError(error, "STORE_UNAVAILABLE"));
      assert.match(error.message, /^store cassandra:\/\/127\.0\.0\.1:1\/nothing is unavailable: /);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });

  it("a crash (SIGKILL) of the only node: 503-style errors, then service again after its restart", async (t) => {
    const store = await openStore(fresh(), { create: true });
    t.after(() => store.close());
    const some = layerLikeChunks(20, 3);
    await store.putChunks(some);
    const node = server.nodes[0]!;
    await node.kill();
    await assert.rejects(store.getChunks([some[0]!.id]), (error) => isDedupError(error, "STORE_UNAVAILABLE"));
    await assert.rejects(store.putChunks(some), (error) => isDedupError(error, "STORE_UNAVAILABLE"));
    await node.restart();
    await eventually(async () => {
      await store.putChunks(some);
      sameChunks(await store.getChunks(some.map((c) => c.id)), some);
    }, 60_000, 250);
  });
});

describe("cassandra store on three nodes, replication 3, QUORUM", () => {
  let cluster: CassandraCluster;
  before(async () => void (cluster = await startCassandra({ nodes: 3 })), { timeout: 400_000 });
  after(() => cluster?.stop());

  /**
   * Runs `step(0)`, `step(1)`, ... one after another; `fault` starts (without being awaited) when
   * step `at` begins, and steps go on until the fault has completed and `after` more steps ran.
   */
  async function around(at: number, after: number, fault: () => Promise<void>, step: (i: number) => Promise<void>): Promise<number> {
    let done = false;
    let faulting: Promise<void> | undefined;
    let i = 0;
    for (let left = after; !done || left > 0; i++) {
      if (i === at) {
        faulting = fault().finally(() => void (done = true));
        faulting.catch(() => undefined); // awaited below
      }
      if (done) left--;
      await step(i);
    }
    await faulting;
    return i;
  }

  it("20 times, two frontends (processes) start at once on a new keyspace: every one starts", { timeout: 300_000 }, async (t) => {
    // The second frontend lists the nodes the other way round, as another host's config might.
    const reversed = (url: string) => url.replace(/\/\/([^/]+)\//, (_, hosts: string) => `//${hosts.split(",").reverse().join(",")}/`);
    // Each round's keyspace is dropped after it: 20 keyspaces of 5 tables would fill the nodes' small heaps.
    const client = new cassandra.Client({ contactPoints: cluster.contactPoints, localDataCenter: cluster.localDataCenter, protocolOptions: { maxSchemaAgreementWaitSeconds: 0 } });
    await client.connect();
    t.after(() => client.shutdown());
    const started = Date.now();
    for (let round = 0; round < 20; round++) {
      const url = `${cluster.url(`start${round}`)}?replication=3`;
      const frontends = await Promise.all([startFrontend(url), startFrontend(reversed(url))]);
      frontends.forEach((f, i) => assert.equal(f.code, 0, `round ${round}, frontend ${i}: ${f.stderr}`));
      await client.execute(`DROP KEYSPACE start${round}`);
    }
    t.diagnostic(`20 rounds of two starts in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it("a node stopped in the middle of a push and one crashed in the middle of a pull: nothing lost, no call failed", async (t) => {
    const store = await openStore(`${cluster.url("fault")}?replication=3`, { create: true });
    t.after(() => store.close());
    const [, b, c] = cluster.nodes as [CassandraNode, CassandraNode, CassandraNode];
    const batch = (i: number) => layerLikeChunks(16, 100 + i);

    // Push: batches of chunks, each followed by the recipe that names them; node b stops
    // cleanly (SIGTERM: it drains) after the 5th batch has started.
    const pushed = await around(5, 5, () => b.stop(), async (i) => {
      await store.putChunks(batch(i));
      await store.putRecipe(recipeOf(`sha256:layer${i}`, batch(i)));
    });
    t.diagnostic(`${pushed} batches pushed, node ${b.address} stopped during batch 5`);
    for (let i = 0; i < pushed; i++) {
      const recipe = await store.getRecipe(`sha256:layer${i}`);
      assert.equal(recipe?.ids.length, 16, `recipe ${i}`);
      sameChunks(await store.getChunks(recipe!.ids), batch(i));
    }
    await b.restart();
    await cluster.waitUntilUp();

    // Pull: node c is killed (SIGKILL: a crash) while recipes and chunks are being read.
    const pulled = await around(5, 5, () => c.kill(), async (i) => {
      const recipe = await store.getRecipe(`sha256:layer${i % pushed}`);
      sameChunks(await store.getChunks(recipe!.ids), batch(i % pushed));
    });
    t.diagnostic(`${pulled} batches pulled, node ${c.address} killed during batch 5`);
    assert.deepEqual(await store.hasChunks(Array.from({ length: pushed }, (_, i) => batch(i)[0]!.id)), Array.from({ length: pushed }, () => true));
    await c.restart();
    await cluster.waitUntilUp();
  });
});
