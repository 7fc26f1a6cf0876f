import { randomBytes } from "node:crypto";
import { DedupError } from "../../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "../chunk-id.js";
import { decodeRecipe, encodeRecipe, type Recipe } from "../recipe.js";
import { parseSettings } from "../settings.js";
import type { ChunkEntry, Store, StoredChunk, StoreSettings, StoreUsage } from "../types.js";
import { connectRedis, parseRedisUrl, type Arg, type RedisNode, type RedisTarget, type Reply } from "./connection.js";
import { planPacks } from "./pack-plan.js";

/**
 * The store on a standalone Redis or a Redis Cluster: every frontend that opens the same URL
 * sees the same registry. Key schema (P is the prefix, "dd" by default, `?prefix=` in the URL):
 *
 *   P:settings        JSON StoreSettings, written once (SET NX) by whoever creates the store
 *   P:c:<id>          chunk index, <id> the 32 raw bytes of the chunk's SHA-256:
 *                       16 bytes  pack id (8) | offset u32 | length u32   committed chunk
 *                        9 bytes  "?" + writer token (8), expiring        being written
 *   P:p:<16 hex>      pack: stored chunks (codec byte + payload) back to back (pack-plan.ts)
 *   P:r:<digest>      recipe of a blob (recipe.ts)
 *   {P}:m:<key>       metadata value (registry records, upload sessions)
 *   {P}:mi            sorted set of all metadata keys (all scores 0), for ordered prefix scans
 *
 * Chunk, pack and recipe keys hash to every slot of a cluster, so bulk bytes and their traffic
 * spread evenly over the masters. Metadata keys share the hash tag {P}, so one MULTI sets a
 * value and its index entry atomically; they are a few small records per image, far below a
 * hot spot.
 *
 * Write order, the same rule as the embedded store: a pack is written, then the index entries
 * that point into it (replacing the writers' claims), then, once the chunks are on the replicas
 * (WAIT, where there are any), the caller writes the recipe. A writer that dies leaves a pack
 * nothing points to and claims that expire; never an index entry without its bytes.
 *
 * Claims make two frontends that push the same chunks at once store each chunk once: a writer
 * claims a chunk with SET NX before writing it; another writer that finds the claim waits for
 * the index entry (or for the claim to expire, and then writes the chunk itself).
 *
 * Durability is Redis's own: what `appendonly`/`save` and replicas give. Memory: see pack-plan.ts.
 */
const LOCATION_BYTES = 16;
const PACK_ID_BYTES = 8;
/** A claim outlives any sane write of one batch; a crashed writer's claims free themselves. */
const CLAIM_MS = 20_000;
const SCAN_COUNT = "512";
const META_PAGE = 256;
/** Deletes a claim only if it is still ours (it may have expired and been taken over). */
const RELEASE_CLAIM = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

interface Location {
  pack: Buffer;
  offset: number;
  length: number;
}

export class RedisStore implements Store {
  readonly location: string;
  readonly settings: StoreSettings;
  readonly #redis: RedisTarget;
  readonly #prefix: string;
  readonly #metaIndex: string;

  private constructor(redis: RedisTarget, prefix: string, settings: StoreSettings) {
    this.location = redis.location;
    this.#redis = redis;
    this.#prefix = prefix;
    this.#metaIndex = `{${prefix}}:mi`;
    this.settings = settings;
  }

  /** Opens the store at a redis:// or redis-cluster:// URL; with `create`, makes it if missing. */
  static async open(url: string, defaults: StoreSettings, create: boolean): Promise<RedisStore> {
    const address = parseRedisUrl(url);
    const redis = await connectRedis(address);
    try {
      const key = `${address.prefix}:settings`;
      if (create) await redis.command(key, ["SET", key, JSON.stringify(defaults), "NX"]);
      const saved = await redis.command(key, ["GET", key], true);
      if (!Buffer.isBuffer(saved)) throw new DedupError("STORE_UNAVAILABLE", `no store at ${address.location}`, { location: address.location });
      return new RedisStore(redis, address.prefix, parseSettings(saved, address.location));
    } catch (error) {
      await redis.close().catch(() => undefined);
      throw error;
    }
  }

  #chunkKey(id: ChunkId): Buffer {
    return Buffer.concat([Buffer.from(`${this.#prefix}:c:`), id]);
  }

  #packKey(pack: Buffer): string {
    return `${this.#prefix}:p:${pack.toString("hex")}`;
  }

  #metaKey(key: string): string {
    return `{${this.#prefix}}:m:${key}`;
  }

  #get(key: Arg): Promise<Reply> {
    return this.#redis.command(key, ["GET", key], true);
  }

  async hasChunks(ids: readonly ChunkId[]): Promise<boolean[]> {
    const lengths = await Promise.all(ids.map((id) => {
      const key = this.#chunkKey(id);
      return this.#redis.command(key, ["STRLEN", key], true);
    }));
    return lengths.map((length) => length === LOCATION_BYTES);
  }

  async getChunks(ids: readonly ChunkId[]): Promise<(Uint8Array | undefined)[]> {
    const entries = await Promise.all(ids.map((id) => this.#get(this.#chunkKey(id))));
    return this.#readPacks(entries.map(decodeLocation));
  }

  /**
   * Reads chunks from their packs. Chunks that sit back to back in one pack (a blob's chunks
   * were written in order) come in one GETRANGE.
   */
  async #readPacks(locations: (Location | undefined)[]): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(locations.length).fill(undefined);
    const reads: Promise<void>[] = [];
    for (let i = 0; i < locations.length; ) {
      const first = locations[i];
      if (first === undefined) {
        i++;
        continue;
      }
      let end = first.offset + first.length;
      let j = i + 1;
      for (let next = locations[j]; next !== undefined && next.offset === end && next.pack.equals(first.pack); next = locations[++j]) end += next.length;
      const run = { from: i, to: j };
      const key = this.#packKey(first.pack);
      reads.push(
        this.#redis.command(key, ["GETRANGE", key, String(first.offset), String(end - 1)], true).then((bytes) => {
          if (!Buffer.isBuffer(bytes) || bytes.length !== end - first.offset) {
            throw new DedupError("STORE_INVALID", `pack ${key} is shorter than its index says`, { pack: key });
          }
          for (let k = run.from; k < run.to; k++) {
            const at = locations[k]!;
            out[k] = bytes.subarray(at.offset - first.offset, at.offset - first.offset + at.length);
          }
        }),
      );
      i = j;
    }
    await Promise.all(reads);
    return out;
  }

  async putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const claim = Buffer.concat([Buffer.from("?"), randomBytes(PACK_ID_BYTES)]);
    const replies = await Promise.all(chunks.map((chunk) => {
      const key = this.#chunkKey(chunk.id);
      return this.#redis.command(key, ["SET", key, claim, "NX", "GET", "PX", String(CLAIM_MS)]);
    }));
    // null: claimed now; our own claim: a retried SET whose first reply was lost.
    const mine = chunks.filter((_, i) => replies[i] === null || (Buffer.isBuffer(replies[i]) && claim.equals(replies[i] as Buffer)));
    const others = chunks.filter((_, i) => Buffer.isBuffer(replies[i]) && (replies[i] as Buffer).length !== LOCATION_BYTES && !claim.equals(replies[i] as Buffer));
    try {
      await this.#writePacks(mine);
    } catch (error) {
      await Promise.all(mine.map((chunk) => {
        const key = this.#chunkKey(chunk.id);
        return this.#redis.command(key, ["EVAL", RELEASE_CLAIM, "1", key, claim]).catch(() => undefined);
      }));
      throw error;
    }
    await this.#replicated();
    if (others.length > 0) await this.#awaitOthers(others);
  }

  async #writePacks(chunks: readonly StoredChunk[]): Promise<void> {
    let at = 0;
    const indexWrites: Promise<Reply>[] = [];
    await Promise.all(planPacks(chunks.map((c) => c.data.length)).map(async (count) => {
      const members = chunks.slice(at, (at += count));
      const pack = randomBytes(PACK_ID_BYTES);
      const key = this.#packKey(pack);
      await this.#redis.command(key, ["SET", key, Buffer.concat(members.map((c) => c.data))]);
      let offset = 0;
      for (const chunk of members) {
        const entry = encodeLocation({ pack, offset, length: chunk.data.length });
        offset += chunk.data.length;
        const indexKey = this.#chunkKey(chunk.id);
        indexWrites.push(this.#redis.command(indexKey, ["SET", indexKey, entry]));
      }
    }));
    await Promise.all(indexWrites);
  }

  /** Waits for chunks other writers claimed; takes over those whose writer gave up or died. */
  async #awaitOthers(chunks: readonly StoredChunk[]): Promise<void> {
    let pending = chunks;
    for (let delay = 10; pending.length > 0; delay = Math.min(delay * 2, 250)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      const entries = await Promise.all(pending.map((chunk) => this.#get(this.#chunkKey(chunk.id))));
      const abandoned = pending.filter((_, i) => entries[i] === null);
      pending = pending.filter((_, i) => Buffer.isBuffer(entries[i]) && (entries[i] as Buffer).length !== LOCATION_BYTES);
      if (abandoned.length > 0) await this.putChunks(abandoned);
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
    const skip = Buffer.byteLength(`${this.#prefix}:c:`);
    for await (const keys of this.#scan(`${this.#prefix}:c:*`)) {
      const entries = (await Promise.all(keys.map((key) => this.#get(key)))).map(decodeLocation);
      const data = await this.#readPacks(entries);
      for (let i = 0; i < keys.length; i++) {
        const bytes = data[i];
        if (bytes !== undefined && keys[i]!.length === skip + CHUNK_ID_BYTES) yield { id: keys[i]!.subarray(skip), data: bytes };
      }
    }
  }

  /** Every key matching `pattern`, a SCAN page at a time, over every master. */
  async *#scan(pattern: string): AsyncIterable<Buffer[]> {
    for (const node of await this.#redis.masters()) {
      let cursor = "0";
      do {
        const [next, keys] = (await node.command(["SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT])) as [Buffer, Buffer[]];
        cursor = next.toString();
        if (keys.length > 0) yield keys;
      } while (cursor !== "0");
    }
  }

  // Garbage collection on Redis: being written (the contract is in ../types.ts).
  async *scanChunkEntries(): AsyncIterable<ChunkEntry[]> {
    throw new DedupError("STORE_INVALID", "garbage collection is not available on Redis yet");
  }

  async doomChunks(): Promise<void> {
    throw new DedupError("STORE_INVALID", "garbage collection is not available on Redis yet");
  }

  async deleteDoomedChunks(): Promise<{ chunks: number; bytes: number }> {
    throw new DedupError("STORE_INVALID", "garbage collection is not available on Redis yet");
  }

  async compact(): Promise<{ packs: number; freedBytes: number }> {
    throw new DedupError("STORE_INVALID", "garbage collection is not available on Redis yet");
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
    const bytes = await this.#get(this.#recipeKey(digest));
    return Buffer.isBuffer(bytes) ? decodeRecipe(digest, bytes) : undefined;
  }

  #recipeKey(digest: string): string {
    return `${this.#prefix}:r:${digest}`;
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    const key = this.#recipeKey(recipe.digest);
    await this.#redis.command(key, ["SET", key, encodeRecipe(recipe)]);
  }

  async deleteRecipe(digest: string): Promise<void> {
    const key = this.#recipeKey(digest);
    await this.#redis.command(key, ["DEL", key]);
  }

  async *scanRecipes(): AsyncIterable<Recipe> {
    const skip = Buffer.byteLength(`${this.#prefix}:r:`);
    for await (const keys of this.#scan(`${this.#prefix}:r:*`)) {
      const values = await Promise.all(keys.map((key) => this.#get(key)));
      for (let i = 0; i < keys.length; i++) {
        const value = values[i];
        if (Buffer.isBuffer(value)) yield decodeRecipe(keys[i]!.subarray(skip).toString(), value);
      }
    }
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    const value = await this.#get(this.#metaKey(key));
    return Buffer.isBuffer(value) ? value : undefined;
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    await this.#redis.transaction(this.#metaIndex, [
      ["SET", this.#metaKey(key), Buffer.from(value.buffer, value.byteOffset, value.byteLength)],
      ["ZADD", this.#metaIndex, "0", key],
    ]);
  }

  async deleteMeta(key: string): Promise<void> {
    await this.#redis.transaction(this.#metaIndex, [
      ["DEL", this.#metaKey(key)],
      ["ZREM", this.#metaIndex, key],
    ]);
  }

  async *scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]> {
    let from = after !== undefined && after >= prefix ? `(${after}` : `[${prefix}`;
    for (;;) {
      const page = ((await this.#redis.command(this.#metaIndex, ["ZRANGEBYLEX", this.#metaIndex, from, "+", "LIMIT", "0", String(META_PAGE)], true)) as Buffer[]).map(String);
      const keys = page.filter((key) => key.startsWith(prefix));
      if (keys.length > 0) {
        const values = (await this.#redis.command(this.#metaIndex, ["MGET", ...keys.map((key) => this.#metaKey(key))], true)) as (Buffer | null)[];
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

/** Index entry: pack id (8 bytes) | offset u32 | length u32, big-endian. */
function encodeLocation(at: Location): Buffer {
  const out = Buffer.allocUnsafe(LOCATION_BYTES);
  at.pack.copy(out, 0);
  out.writeUInt32BE(at.offset, PACK_ID_BYTES);
  out.writeUInt32BE(at.length, PACK_ID_BYTES + 4);
  return out;
}

/** The location in an index entry; undefined for a missing chunk or one still being written. */
function decodeLocation(entry: Reply): Location | undefined {
  if (!Buffer.isBuffer(entry) || entry.length !== LOCATION_BYTES) return undefined;
  return { pack: entry.subarray(0, PACK_ID_BYTES), offset: entry.readUInt32BE(PACK_ID_BYTES), length: entry.readUInt32BE(PACK_ID_BYTES + 4) };
}
