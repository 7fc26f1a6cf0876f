import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { DedupError } from "../errors.js";
import type { ChunkId } from "./chunk-id.js";
import { packPath, PackReader, PackWriter, RECORD_HEADER, type PackLocation } from "./packs.js";
import { decodeRecipe, encodeRecipe, type Recipe } from "./recipe.js";
import { parseSettings } from "./settings.js";
import type { ChunkEntry, ChunkReadOptions, Store, StoredChunk, StoreSettings, StoreUsage } from "./types.js";

/**
 * The embedded store: a directory, nothing to install or run.
 *
 *   <dir>/store.mdb        LMDB: chunks (32-byte id -> pack location), recipes (digest -> recipe),
 *                          meta (key -> bytes: settings, pack counter, registry records)
 *   <dir>/store.mdb-lock   LMDB's reader table
 *   <dir>/packs/*.pack     chunk bytes, append-only (see packs.ts)
 *
 * Write order, which makes any crash harmless: chunk bytes are appended to a pack and fdatasync'ed,
 * then their index entries are committed, then (by the caller) the recipe. LMDB commits are
 * atomic and ordered, and a killed process cannot corrupt it; `sync()` waits for LMDB's
 * background flush, after which everything committed survives a power cut too.
 *
 * Garbage collection: a doomed chunk's index entry carries the time it was doomed (24 bytes
 * instead of 16). Compaction rewrites a pack whose live share fell low: its records still in the
 * index are appended anew, their entries moved to the copies only where they still point at the
 * old ones (in one LMDB transaction), and the pack file is removed; a reader that finds a pack
 * gone looks its entries up again. A pack some writer may still append to is registered in the
 * metadata (`packs/writing/<hex>`, refreshed every minute) and left alone.
 */
export class EmbeddedStore implements Store {
  readonly location: string;
  readonly settings: StoreSettings;
  /** A put's index entries are written in one event turn, so in one LMDB transaction (see #put). */
  readonly putsCommitWhole = true;
  readonly #root: RootDatabase;
  readonly #index: Database<Buffer, Buffer>;
  readonly #recipes: Database<Buffer, string>;
  readonly #meta: Database<Buffer, string>;
  readonly #packDir: string;
  readonly #writer: PackWriter;
  readonly #reader: PackReader;
  readonly #heartbeat: NodeJS.Timeout;
  /** putChunks calls under way: a compaction that rolls the current pack waits for their index entries. */
  readonly #puts = new Set<Promise<void>>();

  private constructor(dir: string, root: RootDatabase, settings: StoreSettings) {
    this.location = dir;
    this.#root = root;
    this.#index = root.openDB<Buffer, Buffer>({ name: "chunks", keyEncoding: "binary", encoding: "binary" });
    this.#recipes = root.openDB<Buffer, string>({ name: "recipes", encoding: "binary" });
    this.#meta = metaDb(root);
    this.settings = settings;
    this.#packDir = join(dir, "packs");
    this.#writer = new PackWriter(
      this.#packDir,
      (pack) => this.#markWriting(pack),
      (pack) => this.deleteMeta(writingKey(pack)),
    );
    this.#reader = new PackReader(this.#packDir);
    this.#heartbeat = setInterval(() => {
      const pack = this.#writer.current;
      if (pack !== undefined) void this.#markWriting(pack).catch(() => undefined);
    }, WRITING_REFRESH_MS);
    this.#heartbeat.unref();
  }

  /**
   * Makes the next read see every commit made so far. lmdb-js keeps one read transaction (a
   * snapshot) until a timer of the next event turn resets it, and knows only of this thread's
   * commits: a read right after another thread's commit (an ingest worker's recipe, a
   * compaction's moved entries) in the same turn as an earlier read saw the snapshot from before
   * it, and a gzip layer `add` had just stored looked gone, so it was never converted.
   */
  #latest(): void {
    this.#root.resetReadTxn();
  }

  /** Opens the store in `dir`; with `create`, makes it (with `defaults`) if it is not there. */
  static async open(dir: string, defaults: StoreSettings, create: boolean): Promise<EmbeddedStore> {
    if (!create && !existsSync(join(dir, "store.mdb"))) {
      throw new DedupError("STORE_UNAVAILABLE", `no store at ${dir}`, { dir });
    }
    let root: RootDatabase;
    try {
      mkdirSync(dir, { recursive: true });
      root = open({ path: join(dir, "store.mdb"), maxDbs: 8, mapSize: 2 ** 36, noMemInit: true });
    } catch (error) {
      throw new DedupError("STORE_UNAVAILABLE", `cannot open store at ${dir}: ${(error as Error).message}`, { dir }, { cause: error });
    }
    const meta = metaDb(root);
    const saved = meta.getBinary(SETTINGS_KEY);
    let settings = defaults;
    if (saved === undefined) await meta.put(SETTINGS_KEY, Buffer.from(JSON.stringify(settings)));
    else settings = parseSettings(saved, dir);
    return new EmbeddedStore(dir, root, settings);
  }

  async hasChunks(ids: readonly ChunkId[]): Promise<boolean[]> {
    this.#latest();
    return ids.map((id) => this.#index.getBinaryFast(id)?.length === LIVE_ENTRY);
  }

  async getChunks(ids: readonly ChunkId[], options: ChunkReadOptions = {}): Promise<(Uint8Array | undefined)[]> {
    const lend = options.lend === true;
    try {
      return this.#read(ids, lend);
    } catch (error) {
      // A compaction (of this process or another) removed a pack between the index lookup and
      // the read: the entries point at the copies now.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      return this.#read(ids, lend);
    }
  }

  giveBack(chunks: readonly Uint8Array[]): void {
    this.#reader.giveBack(chunks);
  }

  #read(ids: readonly ChunkId[], lend: boolean): (Uint8Array | undefined)[] {
    this.#latest();
    const found: number[] = [];
    const locations: PackLocation[] = [];
    ids.forEach((id, i) => {
      const entry = this.#index.getBinaryFast(id);
      if (entry === undefined) return;
      found.push(i);
      locations.push(decodeLocation(entry));
    });
    const out: (Uint8Array | undefined)[] = new Array(ids.length).fill(undefined);
    const data = this.#reader.read(locations, lend);
    found.forEach((index, i) => (out[index] = data[i]));
    return out;
  }

  async *scanChunkEntries(): AsyncIterable<ChunkEntry[]> {
    this.#latest();
    let batch: ChunkEntry[] = [];
    for (const { key, value } of this.#index.getRange({})) {
      const entry: ChunkEntry = { id: Buffer.from(key), storedLength: value.readUInt32BE(12) };
      if (value.length === DOOMED_ENTRY) entry.doomedAt = Number(value.readBigUInt64BE(LIVE_ENTRY));
      batch.push(entry);
      if (batch.length === 1024) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  async doomChunks(ids: readonly ChunkId[], at: number): Promise<void> {
    await this.#root.transaction(() => {
      for (const id of ids) {
        const entry = this.#index.getBinary(id);
        if (entry?.length !== LIVE_ENTRY) continue;
        const doomed = Buffer.alloc(DOOMED_ENTRY);
        entry.copy(doomed);
        doomed.writeBigUInt64BE(BigInt(at), LIVE_ENTRY);
        this.#index.putSync(id, doomed);
      }
    });
  }

  async deleteDoomedChunks(ids: readonly ChunkId[], doomedBy: number): Promise<{ chunks: number; bytes: number }> {
    return this.#root.transaction(() => {
      let chunks = 0;
      let bytes = 0;
      for (const id of ids) {
        const entry = this.#index.getBinary(id);
        if (entry?.length !== DOOMED_ENTRY || Number(entry.readBigUInt64BE(LIVE_ENTRY)) > doomedBy) continue;
        this.#index.removeSync(id);
        chunks++;
        bytes += entry.readUInt32BE(12);
      }
      return { chunks, bytes };
    });
  }

  async compact(minLiveShare: number): Promise<{ packs: number; freedBytes: number }> {
    // This store's own current pack may be the one to rewrite: appends move on to a new pack, and
    // the chunks being put into it now are committed to the index before it is looked at.
    const current = this.#writer.current;
    if (current !== undefined && this.#liveShare(current, this.#recordsByPack()) < minLiveShare) {
      await this.#writer.roll();
      await Promise.allSettled([...this.#puts]);
      await this.deleteMeta(writingKey(current));
    }
    const inIndex = this.#recordsByPack();
    const writing = new Map<number, number>();
    for await (const [key, value] of this.scanMeta(WRITING_PREFIX)) if (writerAlive(value)) writing.set(parseInt(key.slice(WRITING_PREFIX.length), 16), Number(value.readBigUInt64BE(0)));
    let packs = 0;
    let freedBytes = 0;
    for (const name of readdirSync(this.#packDir)) {
      const pack = parseInt(name, 16);
      if (!/^[0-9a-f]{8}\.pack$/.test(name) || pack === this.#writer.current) continue;
      const lastSeen = writing.get(pack);
      if (lastSeen !== undefined && Date.now() - lastSeen < WRITING_STALE_MS) continue;
      const size = statSync(join(this.#packDir, name)).size;
      const records = inIndex.get(pack) ?? [];
      const live = liveBytes(records);
      if (size > 0 && live / size >= minLiveShare) continue;
      await this.#movePack(pack, records);
      this.#reader.forget(pack);
      // Another compaction (another process's gc) may have removed it first.
      await unlink(packPath(this.#packDir, pack)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
      if (lastSeen !== undefined) await this.deleteMeta(writingKey(pack));
      packs++;
      freedBytes += size - live;
    }
    return { packs, freedBytes };
  }

  /** The records each pack still has in the index, doomed ones included (they are still read). */
  #recordsByPack(): Map<number, { id: Buffer; entry: Buffer }[]> {
    this.#latest();
    const inIndex = new Map<number, { id: Buffer; entry: Buffer }[]>();
    for (const { key, value } of this.#index.getRange({})) {
      const pack = value.readUInt32BE(0);
      let records = inIndex.get(pack);
      if (records === undefined) inIndex.set(pack, (records = []));
      records.push({ id: Buffer.from(key), entry: Buffer.from(value) });
    }
    return inIndex;
  }

  #liveShare(pack: number, inIndex: Map<number, { id: Buffer; entry: Buffer }[]>): number {
    const size = statSync(packPath(this.#packDir, pack)).size;
    return size === 0 ? 1 : liveBytes(inIndex.get(pack) ?? []) / size;
  }

  /** Appends a pack's records anew and points their entries at the copies, where they still point at the originals. */
  async #movePack(pack: number, records: { id: Buffer; entry: Buffer }[]): Promise<void> {
    for (let at = 0; at < records.length; at += MOVE_BATCH) {
      const batch = records.slice(at, at + MOVE_BATCH);
      const data = this.#reader.read(batch.map((r) => decodeLocation(r.entry)));
      const moved = await this.#writer.append(batch.map((r, i) => ({ id: r.id, data: data[i]! })));
      await this.#writer.durable();
      await this.#root.transaction(() => {
        batch.forEach((r, i) => {
          const now = this.#index.getBinary(r.id);
          if (now === undefined || now.compare(r.entry, 0, LIVE_ENTRY, 0, LIVE_ENTRY) !== 0) return;
          const entry = Buffer.from(now);
          encodeLocation(moved[i]!).copy(entry);
          this.#index.putSync(r.id, entry);
        });
      });
    }
  }

  /** Registers a pack this process appends to: the time, and who (host and pid), so that a crashed writer's packs are known as such. */
  async #markWriting(pack: number): Promise<void> {
    const value = Buffer.alloc(12);
    value.writeBigUInt64BE(BigInt(Date.now()));
    value.writeUInt32BE(process.pid, 8);
    await this.putMeta(writingKey(pack), Buffer.concat([value, Buffer.from(hostname())]));
  }

  async putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    if (chunks.length === 0) return;
    const put = this.#put(chunks);
    this.#puts.add(put);
    try {
      await put;
    } finally {
      this.#puts.delete(put);
    }
  }

  /** A put already points the index at the bytes it appended, present or not. */
  replaceChunks(chunks: readonly StoredChunk[]): Promise<void> {
    return this.putChunks(chunks);
  }

  async #put(chunks: readonly StoredChunk[]): Promise<void> {
    const locations = await this.#writer.append(chunks);
    await this.#writer.durable();
    // Puts of one event turn share a transaction and transactions commit in order,
    // so the last put resolving means all of them are committed.
    let last: Promise<boolean> | undefined;
    chunks.forEach((chunk, i) => (last = this.#index.put(chunk.id, encodeLocation(locations[i]!))));
    await last;
  }

  async *scanChunks(): AsyncIterable<StoredChunk> {
    let batch: { id: Buffer; at: PackLocation }[] = [];
    const flush = async () => {
      const data = this.#reader.read(batch.map((entry) => entry.at));
      const out = batch.map((entry, i) => ({ id: entry.id, data: data[i]! }));
      batch = [];
      return out;
    };
    this.#latest();
    for (const { key, value } of this.#index.getRange({})) {
      batch.push({ id: Buffer.from(key), at: decodeLocation(value) });
      if (batch.length === 256) yield* await flush();
    }
    yield* await flush();
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
    this.#latest();
    const bytes = this.#recipes.getBinary(digest);
    return bytes === undefined ? undefined : decodeRecipe(digest, bytes);
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    await this.#recipes.put(recipe.digest, encodeRecipe(recipe));
  }

  async deleteRecipe(digest: string): Promise<void> {
    await this.#recipes.remove(digest);
  }

  async *scanRecipes(): AsyncIterable<Recipe> {
    this.#latest();
    for (const { key, value } of this.#recipes.getRange({})) yield decodeRecipe(key, value);
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    this.#latest();
    return this.#meta.getBinary(key);
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    await this.#meta.put(key, value as Buffer);
  }

  async deleteMeta(key: string): Promise<void> {
    await this.#meta.remove(key);
  }

  async *scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]> {
    const start = after !== undefined && after > prefix ? after : prefix;
    this.#latest();
    for (const { key, value } of this.#meta.getRange({ start })) {
      if (!key.startsWith(prefix)) return;
      if (key === after) continue;
      yield [key, value];
    }
  }

  async sync(): Promise<void> {
    await this.#writer.durable();
    await this.#root.flushed;
  }

  async usage(): Promise<StoreUsage> {
    let backendBytes = statSync(join(this.location, "store.mdb")).blocks * 512;
    for (const name of readdirSync(this.#packDir)) backendBytes += statSync(join(this.#packDir, name)).blocks * 512;
    return { backendBytes, backendKind: "disk" };
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    const pack = this.#writer.current;
    await this.#writer.close();
    if (pack !== undefined) await this.deleteMeta(writingKey(pack));
    this.#reader.close();
    await this.#root.flushed;
    await this.#root.close();
  }

}

const SETTINGS_KEY = "store/settings";
/** Index entries: a live chunk's location, or that and the time it was doomed. */
const LIVE_ENTRY = 16;
const DOOMED_ENTRY = 24;
/** Packs a writer may append to, with when it last said so (u64 ms). */
const WRITING_PREFIX = "packs/writing/";
const WRITING_REFRESH_MS = 60_000;
/** A registration this old is a crashed writer's: its pack is left to compaction. */
const WRITING_STALE_MS = 60 * 60_000;
/** Records copied per append while a pack is rewritten. */
const MOVE_BATCH = 1024;

/**
 * Whether the writer of a `packs/writing/` registration may still append: one on this host whose
 * process is gone (killed, crashed) will not; one on another host (a store on a shared disk) is
 * trusted until its registration goes stale.
 */
function writerAlive(registration: Buffer): boolean {
  if (registration.length < 12 || registration.subarray(12).toString() !== hostname()) return true;
  try {
    process.kill(registration.readUInt32BE(8), 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Bytes of a pack's records that are still in the index. */
function liveBytes(records: { entry: Buffer }[]): number {
  return records.reduce((sum, r) => sum + RECORD_HEADER + r.entry.readUInt32BE(12), 0);
}

function writingKey(pack: number): string {
  return WRITING_PREFIX + pack.toString(16).padStart(8, "0");
}

function metaDb(root: RootDatabase): Database<Buffer, string> {
  return root.openDB<Buffer, string>({ name: "meta", encoding: "binary" });
}

/** Index entry: pack u32 | offset u64 | length u32, big-endian. */
function encodeLocation(at: PackLocation): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeUInt32BE(at.pack, 0);
  out.writeBigUInt64BE(BigInt(at.offset), 4);
  out.writeUInt32BE(at.length, 12);
  return out;
}

function decodeLocation(entry: Buffer): PackLocation {
  return { pack: entry.readUInt32BE(0), offset: Number(entry.readBigUInt64BE(4)), length: entry.readUInt32BE(12) };
}
