import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { chunkIdOf } from "../../src/store/chunk-id.js";
import { BlobParts } from "../../src/layers/blob-service.js";
import { startSite } from "../../src/sites/site.js";
import { DEFAULT_SETTINGS, openStore as openPlainStore, type OpenOptions } from "../../src/store/open.js";
import type { Store, StoredChunk } from "../../src/store/types.js";
import { randomBytes, tempDir } from "../helpers.js";
import { startRedis, startRedisCluster, type RedisServer } from "../redis/servers.js";
import { startCassandra, type CassandraCluster } from "../cassandra/servers.js";

/**
 * The store contract, run against every backend: what the layers above rely on must hold
 * whichever one is configured.
 */
interface Backend {
  /** A location where no store exists yet. */
  fresh(t: { after(fn: () => unknown): void }): Promise<string>;
  /** Opens the store at a location (openStore, unless the backend wraps it). */
  open?(location: string, options?: OpenOptions): Promise<Store>;
}

/**
 * The store a site's registry runs on (sites/site-store.ts), over an embedded store: a site with
 * no peers, so every call is the wrapper's own path to the local store (and its change log).
 */
async function openSiteStore(location: string, options?: OpenOptions): Promise<Store> {
  const local = await openPlainStore(location, options);
  const parts = new BlobParts({ chunkCacheBytes: 0 });
  const site = await startSite(local, { site: "here", peers: [], peerListen: { host: "127.0.0.1", port: 0 }, access: { secret: "a-secret-of-sixteen-chars" }, schedule: "network-aware", probeIntervalSeconds: 0 }, () => undefined, parts);
  // Closing the store the registry runs on stops the site first, as serve does.
  return new Proxy(site.store, {
    get(target, property) {
      if (property === "close") {
        return async () => {
          await site.close();
          await parts.close();
          await target.close();
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

let stores = 0;
/** Starts the server for the enclosing suite; each test gets its own prefix, a separate store. */
function redisBackend(start: () => Promise<RedisServer>): Backend {
  let server: RedisServer | undefined;
  before(async () => void (server = await start()));
  after(() => server?.stop());
  return { fresh: async () => `${server!.url}?prefix=t${++stores}` };
}

/** One Cassandra node for the suite; each test gets its own keyspace, a separate store. */
function cassandraBackend(): Backend {
  let server: CassandraCluster | undefined;
  before(async () => void (server = await startCassandra()), { timeout: 300_000 });
  after(() => server?.stop());
  return { fresh: async () => server!.url(`t${++stores}`) };
}

function chunk(seed: number, size = 10_000): StoredChunk {
  const data = randomBytes(size, seed);
  return { id: chunkIdOf(data), data };
}

const backends: [string, () => Backend][] = [
  ["embedded", () => ({ fresh: async (t) => join(await tempDir(t), "store") })],
  ["site store over embedded", () => ({ fresh: async (t) => join(await tempDir(t), "store"), open: openSiteStore })],
  ["redis", () => redisBackend(startRedis)],
  ["redis-cluster", () => redisBackend(() => startRedisCluster(3, 0))],
  ["cassandra", cassandraBackend],
];

for (const [name, setUp] of backends) {
  describe(`store contract: ${name}`, () => {
    const backend = setUp();
    const openStore = backend.open ?? openPlainStore;
    /** A new store of this backend, closed when the test ends. */
    const freshStore = async (t: Parameters<typeof backend.fresh>[0]): Promise<Store> => {
      const store = await openStore(await backend.fresh(t), { create: true });
      t.after(() => store.close());
      return store;
    };
    {
      it("chunks, recipes and metadata survive a reopen", async (t) => {
        const dir = await backend.fresh(t);
        const store = await openStore(dir, { create: true });
        const chunks = [chunk(1), chunk(2), chunk(3, 100)];
        await store.putChunks(chunks);
        await store.putRecipe({ digest: "sha256:" + "a".repeat(64), size: 20_000, ids: [chunks[0]!.id, chunks[1]!.id], lengths: Uint32Array.of(10_000, 10_000) });
        await store.putMeta("repo/x/tag/latest", Buffer.from("one"));
        await store.putMeta("repo/x/tag/v1", Buffer.from("two"));
        await store.putMeta("repo/y/tag/v1", Buffer.from("three"));
        await store.close();

        const again = await openStore(dir);
        t.after(() => again.close());
        assert.deepEqual(await again.hasChunks([chunks[0]!.id, chunk(9).id, chunks[2]!.id]), [true, false, true]);
        const got = await again.getChunks([chunks[2]!.id, chunk(9).id, chunks[0]!.id]);
        assert.ok(Buffer.from(got[0]!).equals(chunks[2]!.data));
        assert.equal(got[1], undefined);
        assert.ok(Buffer.from(got[2]!).equals(chunks[0]!.data));
        const recipe = await again.getRecipe("sha256:" + "a".repeat(64));
        assert.equal(recipe?.size, 20_000);
        assert.ok(recipe?.ids[1]!.equals(chunks[1]!.id));
        const tags: string[] = [];
        for await (const [key, value] of again.scanMeta("repo/x/")) tags.push(`${key}=${value}`);
        assert.deepEqual(tags, ["repo/x/tag/latest=one", "repo/x/tag/v1=two"]);
        assert.deepEqual(again.settings, DEFAULT_SETTINGS);
        let scanned = 0;
        for await (const c of again.scanChunks()) {
          assert.ok(chunkIdOf(c.data).equals(c.id));
          scanned++;
        }
        assert.equal(scanned, 3);
      });

      it("opening a missing store without create fails clearly", async (t) => {
        const dir = await backend.fresh(t);
        await assert.rejects(openStore(dir), /no store at/);
      });

      it("concurrent writers of the same chunks store each once", async (t) => {
        const store = await freshStore(t);
        const chunks = Array.from({ length: 50 }, (_, i) => chunk(i + 100, 5000));
        await Promise.all([store.putChunks(chunks), store.putChunks(chunks.slice(10)), store.putChunks(chunks.slice(0, 20))]);
        let count = 0;
        for await (const c of store.scanChunks()) count += c.id ? 1 : 0;
        assert.equal(count, 50);
        const all = await store.getChunks(chunks.map((c) => c.id));
        all.forEach((data, i) => assert.ok(Buffer.from(data!).equals(chunks[i]!.data)));
      });

      it("batch reads of hundreds of ids, repeated and missing among them, answer in the caller's order", async (t) => {
        const store = await freshStore(t);
        const chunks = Array.from({ length: 150 }, (_, i) => chunk(i + 1000, 1000));
        await store.putChunks(chunks);
        const missing = chunk(2000, 1000).id;
        const asked = [...chunks.map((c) => c.id).reverse(), missing, chunks[7]!.id, chunks[7]!.id];
        const expected = [...[...chunks].reverse(), undefined, chunks[7]!, chunks[7]!];
        assert.deepEqual(await store.hasChunks(asked), expected.map((c) => c !== undefined));
        const got = await store.getChunks(asked);
        assert.equal(got.length, expected.length);
        got.forEach((data, i) => assert.deepEqual(data === undefined ? undefined : Buffer.from(data), expected[i]?.data === undefined ? undefined : Buffer.from(expected[i]!.data)));
      });

      it("lending reads answer the same bytes; a store that lends reads into memory again only once all of it is given back", async (t) => {
        const store = await freshStore(t);
        // 1.6 MB: a read large enough to be lent (smaller ones are cheap garbage, store/packs.ts).
        const chunks = Array.from({ length: 40 }, (_, i) => chunk(i + 3000, 40_000));
        await store.putChunks(chunks);
        const ids = chunks.map((c) => c.id);
        const same = (got: (Uint8Array | undefined)[]) => got.forEach((data, i) => assert.ok(Buffer.from(data!).equals(chunks[i]!.data), `chunk ${i}`));
        const first = (await store.getChunks(ids, { lend: true })) as Uint8Array[];
        same(first);
        if (store.giveBack === undefined) return;
        const firstCopy = first.map((data) => Buffer.from(data));
        store.giveBack(first.slice(1));
        const second = await store.getChunks(ids, { lend: true });
        same(second);
        assert.notEqual(second[0]!.buffer, first[0]!.buffer, "memory one chunk is still out of is not read into");
        first.forEach((data, i) => assert.ok(Buffer.from(data).equals(firstCopy[i]!), `chunk ${i} of the first read is untouched`));
        store.giveBack(first.slice(0, 1));
        const third = await store.getChunks(ids, { lend: true });
        same(third);
        assert.equal(third[0]!.buffer, first[0]!.buffer, "memory all given back is read into again");
      });
      it("a store keeps the settings it was created with", async (t) => {
        const dir = await backend.fresh(t);
        const custom = { ...DEFAULT_SETTINGS, chunker: { ...DEFAULT_SETTINGS.chunker, avgSize: 32768, maxSize: 131072 } };
        await (await openStore(dir, { create: true, settings: custom })).close();
        const again = await openStore(dir, { create: true });
        t.after(() => again.close());
        assert.equal(again.settings.chunker.avgSize, 32768);
      });

      it("metadata scans can start after a key", async (t) => {
        const store = await freshStore(t);
        for (const tag of ["a", "b", "c", "d"]) await store.putMeta(`tags/x:${tag}`, Buffer.from(tag));
        await store.putMeta("tags/y:a", Buffer.from("other"));
        const after = async (key?: string) => {
          const found: string[] = [];
          for await (const [k] of store.scanMeta("tags/x:", key)) found.push(k);
          return found;
        };
        assert.deepEqual(await after(), ["tags/x:a", "tags/x:b", "tags/x:c", "tags/x:d"]);
        assert.deepEqual(await after("tags/x:b"), ["tags/x:c", "tags/x:d"]);
        assert.deepEqual(await after("tags/x:bb"), ["tags/x:c", "tags/x:d"]);
        assert.deepEqual(await after("tags/x:d"), []);
        assert.deepEqual(await after("tags/"), ["tags/x:a", "tags/x:b", "tags/x:c", "tags/x:d"]);
      });

      it("a repair replaces the stored bytes of chunks that are present", async (t) => {
        const store = await freshStore(t);
        const [good, other] = [chunk(4000, 3000), chunk(4001, 3000)];
        await store.putChunks([{ id: good.id, data: Buffer.alloc(3000, 7) }, other]);
        await store.replaceChunks([good]);
        const [repaired, untouched] = await store.getChunks([good.id, other.id]);
        assert.ok(Buffer.from(repaired!).equals(good.data), "the index points at the new bytes");
        assert.ok(Buffer.from(untouched!).equals(other.data));
        assert.deepEqual(await store.hasChunks([good.id]), [true]);
      });

      it("garbage collection: doomed chunks are still read but count as absent, a put revives them, only chunks still doomed by then are deleted", async (t) => {
        const store = await freshStore(t);
        const chunks = Array.from({ length: 6 }, (_, i) => chunk(i + 3000, 4000));
        await store.putChunks(chunks);
        const ids = chunks.map((c) => c.id);
        await store.doomChunks(ids.slice(0, 4), 1000);
        assert.deepEqual(await store.hasChunks(ids), [false, false, false, false, true, true], "doomed chunks count as absent");
        (await store.getChunks(ids)).forEach((data, i) => assert.ok(Buffer.from(data!).equals(chunks[i]!.data), `chunk ${i} is still read`));
        const entries = new Map<string, number | undefined>();
        for await (const batch of store.scanChunkEntries()) for (const e of batch) entries.set(e.id.toString("hex"), e.doomedAt);
        assert.deepEqual(ids.map((id) => entries.get(id.toString("hex"))), [1000, 1000, 1000, 1000, undefined, undefined]);
        // An ingest writes chunk 0 again: it is live, and stays.
        await store.putChunks([chunks[0]!]);
        assert.deepEqual(await store.hasChunks([ids[0]!]), [true]);
        // Chunk 1 is written again and doomed again later: not deleted by a pass for what was
        // doomed by 1000. Dooming a doomed chunk keeps the time it was first doomed.
        await store.putChunks([chunks[1]!]);
        await store.doomChunks([ids[1]!, ids[2]!], 5000);
        assert.deepEqual(await store.deleteDoomedChunks(ids, 1000), { chunks: 2, bytes: chunks[2]!.data.length + chunks[3]!.data.length });
        assert.deepEqual((await store.getChunks(ids)).map((data) => data !== undefined), [true, true, false, false, true, true]);
        assert.equal((await store.deleteDoomedChunks(ids, 5000)).chunks, 1);
        assert.deepEqual(await store.hasChunks(ids), [true, false, false, false, true, true]);
      });

      it("garbage collection: compaction gives back what deleted chunks held and keeps every live chunk readable", async (t) => {
        const location = await backend.fresh(t);
        const store = await openStore(location, { create: true });
        const chunks = Array.from({ length: 400 }, (_, i) => chunk(i + 5000, 20_000));
        for (let at = 0; at < chunks.length; at += 50) await store.putChunks(chunks.slice(at, at + 50));
        // Reopened, so the writes went to a pack this store no longer appends to.
        await store.close();
        const again = await openStore(location);
        t.after(() => again.close());
        const before = (await again.usage()).backendBytes;
        const dead = chunks.filter((_, i) => i % 4 !== 0).map((c) => c.id);
        await again.doomChunks(dead, 1);
        await again.deleteDoomedChunks(dead, 1);
        const { freedBytes } = await again.compact(0.5);
        const after = (await again.usage()).backendBytes;
        const live = chunks.filter((_, i) => i % 4 === 0);
        (await again.getChunks(live.map((c) => c.id))).forEach((data, i) => assert.ok(Buffer.from(data!).equals(live[i]!.data), `live chunk ${i}`));
        assert.deepEqual((await again.getChunks(dead.slice(0, 5))).map((data) => data === undefined), [true, true, true, true, true]);
        if (freedBytes > 0) assert.ok(after < before - freedBytes / 2, `usage ${before} -> ${after} after freeing ${freedBytes}`);
      });
    }
  });
}
