import { randomBytes } from "node:crypto";
import { DedupError } from "../../errors.js";
import type { ChunkId } from "../chunk-id.js";
import { decodeRecipe, encodeRecipe, type Recipe } from "../recipe.js";
import { parseSettings } from "../settings.js";
import type { ChunkEntry, Store, StoredChunk, StoreSettings, StoreUsage } from "../types.js";
import { compactPacks } from "./compaction.js";
import { connectRedis, parseRedisUrl, type Arg, type RedisNode, type RedisTarget, type Reply } from "./connection.js";
import { decodeLocation, doomedAt, encodeLocation, encodeTime, isLocation, LOCATION_BYTES, PACK_ID_BYTES } from "./entries.js";
import { RedisKeys } from "./keys.js";
import { getValues, readRecords, scanKeys } from "./pack-io.js";
import { planPacks } from "./pack-plan.js";
import { CLAIM_OR_REVIVE, DELETE_DOOMED, DOOM, RELEASE_CLAIM } from "./scripts.js";
import { WritingPacks } from "./writing.js";

/**
 * The store on a standalone Redis or a Redis Cluster: every frontend that opens the same URL
 * sees the same registry. Key schema (P is the prefix, "dd" by default, `?prefix=` in the URL):
 *
 *   P:settings        JSON StoreSettings, written once (SET NX) by whoever creates the store
 *   P:c:<id>          chunk index, <id> the 32 raw bytes of the chunk's SHA-256 (entries.ts):
 *                       16 bytes  pack id (8) | offset u32 | length u32   live chunk
 *                       24 bytes  the same | doomed at u64 ms               doomed chunk
 *                        9 bytes  "?" + writer token (8), expiring        being written
 *   P:p:<16 hex>      pack: stored chunks (codec byte + payload) back to back (pack-plan.ts)
 *   P:r:<digest>      recipe of a blob (recipe.ts)
 *   {P}:m:<key>       metadata value (registry records, upload sessions)
 *   {P}:mi            sorted set of all metadata keys (all scores 0), for ordered prefix scans
 *   {P}:writing       sorted set of the packs being written, scored by when (writing.ts)
 *
 * Chunk, pack and recipe keys hash to every slot of a cluster, so bulk bytes and their traffic
 * spread evenly over the masters. Metadata keys share the hash tag {P}, so one MULTI sets a
 * value and its index entry atomically; they are a few small records per image, far below a
 * hot spot.
 *
 * Write order, the same rule as the embedded store: a pack is registered as being written and
 * written, then the index entries that point into it (replacing the writers' claims), then,
 * once the chunks are on the replicas (WAIT, where there are any), the caller writes the recipe.
 * A writer that dies leaves a pack nothing points to and claims that expire; never an index
 * entry without its bytes.
 *
 * Claims make two frontends that push the same chunks at once store each chunk once: a writer
 * claims a chunk (CLAIM_OR_REVIVE: SET if absent) before writing it; another writer that finds
 * the claim waits for the index entry (or for the claim to expire, and then writes the chunk
 * itself).
 *
 * Garbage collection (the contract is ChunkStore's, ../types.ts): a doomed entry keeps its
 * location and carries the time it was doomed, so it is still read, but `hasChunks` (STRLEN)
 * does not count it. A put finds it doomed and makes it live again in place (its record is still
 * in its pack), in the same script that claims absent entries, so a put and a delete ("delete if
 * still doomed by T") of one entry are atomic with respect to each other. Deleting removes the
 * index entry only; `compact` (compaction.ts) gives the record's bytes back.
 *
 * Durability is Redis's own: what `appendonly`/`save` and replicas give. Memory: see pack-plan.ts.
 */
/** A claim outlives any sane write of one batch; a crashed writer's claims free themselves. */
const CLAIM_MS = 20_000;
const META_PAGE = 256;
/** Reads that find a record's pack removed by a compaction look its entry up again this often at most. */
const MOVED_RETRIES = 5;

export class RedisStore implements Store {
  readonly location: string;
  /** A put's index entries are written key by key (one script each, on many masters). */
  readonly putsCommitWhole = false;
  readonly settings: StoreSettings;
  readonly #redis: RedisTarget;
  readonly #keys: RedisKeys;
  readonly #writing: WritingPacks;

  private constructor(redis: RedisTarget, prefix: string, settings: StoreSettings) {
    this.location = redis.location;
    this.#redis = redis;
    this.#keys = new RedisKeys(prefix);
    this.#writing = new WritingPacks(redis, this.#keys.writing);
    this.settings = settings;
  }

  /** Opens the store at a redis:// or redis-cluster:// URL; with `create`, makes it if missing. */
  static async open(url: string, defaults: StoreSettings, create: boolean): Promise<RedisStore> {
    const address = parseRedisUrl(url);
    const redis = await connectRedis(address);
    try {
      const key = new RedisKeys(address.prefix).settings;
      if (create) await redis.command(key, ["SET", key, JSON.stringify(defaults), "NX"]);
      const saved = await redis.command(key, ["GET", key], true);
      if (!Buffer.isBuffer(saved)) throw new DedupError("STORE_UNAVAILABLE", `no store at ${address.location}`, { location: address.location });
      return new RedisStore(redis, address.prefix, parseSettings(saved, address.location));
    } catch (error) {
      await redis.close().catch(() => undefined);
      throw error;
    }
  }

  #get(key: Arg): Promise<Reply> {
    return this.#redis.command(key, ["GET", key], true);
  }

  async hasChunks(ids: readonly ChunkId[]): Promise<boolean[]> {
    const lengths = await Promise.all(ids.map((id) => {
      const key = this.#keys.chunk(id);
      return this.#redis.command(key, ["STRLEN", key], true);
    }));
    return lengths.map((length) => length === LOCATION_BYTES);
  }

  async getChunks(ids: readonly ChunkId[]): Promise<(Uint8Array | undefined)[]> {
    return this.#readChunks(ids.map((id) => this.#keys.chunk(id)));
  }

  /**
   * Chunks by their index keys: the entries, then the records they point at. A record whose pack
   * came back short was moved by a compaction between the two reads (its entry changed): read
   * again from where the entry points now. An entry that did not change points at missing bytes.
   */
  async #readChunks(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    const out: (Buffer | undefined)[] = new Array(keys.length).fill(undefined);
    const entries = await getValues(this.#redis, keys);
    let todo = keys.map((_, i) => i);
    for (let attempt = 0; todo.length > 0; attempt++) {
      const { data, short } = await readRecords(this.#redis, this.#keys, todo.map((i) => decodeLocation(entries[i]!)));
      todo.forEach((i, k) => (out[i] = data[k]));
      const retry = short.map((k) => todo[k]!);
      const again = await getValues(this.#redis, retry.map((i) => keys[i]!));
      const stuck = retry.find((i, k) => sameLocation(entries[i]!, again[k]!));
      if (stuck !== undefined || (retry.length > 0 && attempt === MOVED_RETRIES)) {
        const pack = decodeLocation(entries[stuck ?? retry[0]!]!)!.pack;
        throw new DedupError("STORE_INVALID", `pack ${this.#keys.pack(pack)} is shorter than its index says`, { pack: this.#keys.pack(pack) });
      }
      retry.forEach((i, k) => (entries[i] = again[k]!));
      todo = retry;
    }
    return out;
  }

  async putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const claim = Buffer.concat([Buffer.from("?"), randomBytes(PACK_ID_BYTES)]);
    // Ids for the packs this batch may need, registered in the same round trip as the claims:
    // compaction must leave a pack alone from before it exists until its entries are written.
    const packIds = planPacks(chunks.map((c) => c.data.length)).map(() => randomBytes(PACK_ID_BYTES));
    const [replies] = await Promise.all([
      Promise.all(chunks.map((chunk) => CLAIM_OR_REVIVE.run(this.#redis, this.#keys.chunk(chunk.id), [claim, String(CLAIM_MS)]))),
      this.#writing.register(packIds),
    ]);
    // null: claimed now; our own claim: a retried request whose first reply was lost.
    const mine = chunks.filter((_, i) => replies[i] === null || (Buffer.isBuffer(replies[i]) && claim.equals(replies[i] as Buffer)));
    const others = chunks.filter((_, i) => Buffer.isBuffer(replies[i]) && (replies[i] as Buffer).length !== LOCATION_BYTES && !claim.equals(replies[i] as Buffer));
    try {
      await this.#writePacks(mine, packIds);
    } catch (error) {
      // The registrations stay until stale: index writes of this batch may still be in flight.
      await Promise.all(mine.map((chunk) => RELEASE_CLAIM.run(this.#redis, this.#keys.chunk(chunk.id), [claim]).catch(() => undefined)));
      throw error;
    }
    await Promise.all([this.#replicated(), this.#writing.release(packIds)]);
    if (others.length > 0) await this.#awaitOthers(others);
  }

  /**
   * Writes the chunks into new packs and points their entries there, claimed or not (a put skips
   * present ids); the damaged records become garbage that compaction gives back.
   */
  async replaceChunks(chunks: readonly StoredChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const packIds = planPacks(chunks.map((c) => c.data.length)).map(() => randomBytes(PACK_ID_BYTES));
    await this.#writing.register(packIds);
    // On failure the registrations stay until stale, as in putChunks: index writes may be in flight.
    await this.#writePacks(chunks, packIds);
    await Promise.all([this.#replicated(), this.#writing.release(packIds)]);
  }

  /** Writes the chunks into packs with the registered ids (registering more if the plan needs them), then their index entries. */
  async #writePacks(chunks: readonly StoredChunk[], packIds: Buffer[]): Promise<void> {
    const counts = planPacks(chunks.map((c) => c.data.length));
    const extra = Array.from({ length: Math.max(0, counts.length - packIds.length) }, () => randomBytes(PACK_ID_BYTES));
    await this.#writing.register(extra);
    packIds.push(...extra);
    let at = 0;
    const indexWrites: Promise<Reply>[] = [];
    await Promise.all(counts.map(async (count, p) => {
      const members = chunks.slice(at, (at += count));
      const pack = packIds[p]!;
      const key = this.#keys.pack(pack);
      await this.#redis.command(key, ["SET", key, Buffer.concat(members.map((c) => c.data))]);
      let offset = 0;
      for (const chunk of members) {
        const entry = encodeLocation({ pack, offset, length: chunk.data.length });
        offset += chunk.data.length;
        const indexKey = this.#keys.chunk(chunk.id);
        indexWrites.push(this.#redis.command(indexKey, ["SET", indexKey, entry]));
      }
    }));
    await Promise.all(indexWrites);
  }

  /**
   * Waits for chunks other writers claimed; takes over those whose writer gave up or died, and
   * revives those a collection doomed meanwhile (this ingest counts on them).
   */
  async #awaitOthers(chunks: readonly StoredChunk[]): Promise<void> {
    let pending = chunks;
    for (let delay = 10; pending.length > 0; delay = Math.min(delay * 2, 250)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      const entries = await getValues(this.#redis, pending.map((chunk) => this.#keys.chunk(chunk.id)));
      const again = pending.filter((_, i) => entries[i] === null || (isLocation(entries[i]!) && doomedAt(entries[i] as Buffer) !== undefined));
      pending = pending.filter((_, i) => Buffer.isBuffer(entries[i]) && !isLocation(entries[i]!));
      if (again.length > 0) await this.putChunks(again);
    }
  }

  /** Waits until the masters' replicas have what was written, so a failover cannot lose it. */
  async #replicated(): Promise<void> {
    const masters = await this.#redis.masters();
    await Promise.all(masters.map(async (node) => {
      if ((await replicaCount(node)) > 0) await node.command(["WAIT", "1", "5000"]);
    }));
  }

  async *scanChunks(): AsyncIterable<StoredChunk> {
    for await (const found of scanKeys(this.#redis, this.#keys.chunkPattern)) {
      const keys = found.filter((key) => this.#keys.chunkIdOf(key) !== undefined);
      const data = await this.#readChunks(keys);
      for (let i = 0; i < keys.length; i++) {
        const bytes = data[i];
        if (bytes !== undefined) yield { id: this.#keys.chunkIdOf(keys[i]!)!, data: bytes };
      }
    }
  }

  async *scanChunkEntries(): AsyncIterable<ChunkEntry[]> {
    for await (const found of scanKeys(this.#redis, this.#keys.chunkPattern)) {
      const entries = await getValues(this.#redis, found);
      const batch: ChunkEntry[] = [];
      found.forEach((key, i) => {
        const id = this.#keys.chunkIdOf(key);
        const at = decodeLocation(entries[i]!);
        if (id === undefined || at === undefined) return;
        const doomed = doomedAt(entries[i] as Buffer);
        batch.push(doomed === undefined ? { id, storedLength: at.length } : { id, storedLength: at.length, doomedAt: doomed });
      });
      if (batch.length > 0) yield batch;
    }
  }

  async doomChunks(ids: readonly ChunkId[], at: number): Promise<void> {
    const time = encodeTime(at);
    await Promise.all(ids.map((id) => DOOM.run(this.#redis, this.#keys.chunk(id), [time])));
  }

  async deleteDoomedChunks(ids: readonly ChunkId[], doomedBy: number): Promise<{ chunks: number; bytes: number }> {
    const lengths = await Promise.all(ids.map((id) => DELETE_DOOMED.run(this.#redis, this.#keys.chunk(id), [String(Math.floor(doomedBy))])));
    const deleted = lengths.filter((length): length is number => typeof length === "number" && length >= 0);
    return { chunks: deleted.length, bytes: deleted.reduce((sum, length) => sum + length, 0) };
  }

  /** Rewrites packs whose live share fell under `minLiveShare` (compaction.ts). */
  async compact(minLiveShare: number): Promise<{ packs: number; freedBytes: number }> {
    return compactPacks(this.#redis, this.#keys, this.#writing, minLiveShare);
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
    const bytes = await this.#get(this.#keys.recipe(digest));
    return Buffer.isBuffer(bytes) ? decodeRecipe(digest, bytes) : undefined;
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    const key = this.#keys.recipe(recipe.digest);
    await this.#redis.command(key, ["SET", key, encodeRecipe(recipe)]);
  }

  async deleteRecipe(digest: string): Promise<void> {
    const key = this.#keys.recipe(digest);
    await this.#redis.command(key, ["DEL", key]);
  }

  async *scanRecipes(): AsyncIterable<Recipe> {
    for await (const keys of scanKeys(this.#redis, this.#keys.recipePattern)) {
      const values = await getValues(this.#redis, keys);
      for (let i = 0; i < keys.length; i++) {
        const value = values[i];
        if (Buffer.isBuffer(value)) yield decodeRecipe(this.#keys.digestOf(keys[i]!), value);
      }
    }
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    const value = await this.#get(this.#keys.meta(key));
    return Buffer.isBuffer(value) ? value : undefined;
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    await this.#redis.transaction(this.#keys.metaIndex, [
      ["SET", this.#keys.meta(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength)],
      ["ZADD", this.#keys.metaIndex, "0", key],
    ]);
  }

  async deleteMeta(key: string): Promise<void> {
    await this.#redis.transaction(this.#keys.metaIndex, [
      ["DEL", this.#keys.meta(key)],
      ["ZREM", this.#keys.metaIndex, key],
    ]);
  }

  async *scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]> {
    let from = after !== undefined && after >= prefix ? `(${after}` : `[${prefix}`;
    for (;;) {
      const page = ((await this.#redis.command(this.#keys.metaIndex, ["ZRANGEBYLEX", this.#keys.metaIndex, from, "+", "LIMIT", "0", String(META_PAGE)], true)) as Buffer[]).map(String);
      const keys = page.filter((key) => key.startsWith(prefix));
      if (keys.length > 0) {
        const values = (await this.#redis.command(this.#keys.metaIndex, ["MGET", ...keys.map((key) => this.#keys.meta(key))], true)) as (Buffer | null)[];
        for (let i = 0; i < keys.length; i++) if (values[i] !== null) yield [keys[i]!, values[i]!];
      }
      if (keys.length < META_PAGE) return;
      from = `(${keys[keys.length - 1]}`;
    }
  }

  /** Committed writes are already in Redis; what outlives a crash of Redis is its own setting. */
  async sync(): Promise<void> {
    await this.#replicated();
  }

  /**
   * Redis memory summed over the masters (replicas hold copies and are not counted): used_memory
   * without the clients' I/O buffers, which come and go with traffic and are no storage cost.
   */
  async usage(): Promise<StoreUsage> {
    const infos = await Promise.all((await this.#redis.masters()).map((node) => node.command(["INFO", "memory"])));
    return { backendBytes: infos.reduce<number>((sum, info) => sum + storedMemory(String(info)), 0), backendKind: "Redis memory" };
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }
}

/** used_memory minus client buffers, from INFO memory. */
export function storedMemory(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? 0);
  return field("used_memory") - field("mem_clients_normal") - field("mem_clients_slaves");
}

async function replicaCount(node: RedisNode): Promise<number> {
  const info = String(await node.command(["INFO", "replication"]));
  return Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
}

/** Whether two entries hold the same location (doomed or not). */
function sameLocation(a: Reply, b: Reply): boolean {
  return isLocation(a) && isLocation(b) && a.compare(b, 0, LOCATION_BYTES, 0, LOCATION_BYTES) === 0;
}
