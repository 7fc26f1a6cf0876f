import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { DedupError } from "../errors.js";
import type { ChunkId } from "./chunk-id.js";
import { PackReader, PackWriter, type PackLocation } from "./packs.js";
import { decodeRecipe, encodeRecipe, type Recipe } from "./recipe.js";
import { parseSettings } from "./settings.js";
import type { Store, StoredChunk, StoreSettings, StoreUsage } from "./types.js";

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
 */
export class EmbeddedStore implements Store {
  readonly location: string;
  readonly settings: StoreSettings;
  readonly #root: RootDatabase;
  readonly #index: Database<Buffer, Buffer>;
  readonly #recipes: Database<Buffer, string>;
  readonly #meta: Database<Buffer, string>;
  readonly #packDir: string;
  readonly #writer: PackWriter;
  readonly #reader: PackReader;

  private constructor(dir: string, root: RootDatabase, settings: StoreSettings) {
    this.location = dir;
    this.#root = root;
    this.#index = root.openDB<Buffer, Buffer>({ name: "chunks", keyEncoding: "binary", encoding: "binary" });
    this.#recipes = root.openDB<Buffer, string>({ name: "recipes", encoding: "binary" });
    this.#meta = metaDb(root);
    this.settings = settings;
    this.#packDir = join(dir, "packs");
    this.#writer = new PackWriter(this.#packDir);
    this.#reader = new PackReader(this.#packDir);
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
    return ids.map((id) => this.#index.doesExist(id));
  }

  async getChunks(ids: readonly ChunkId[]): Promise<(Uint8Array | undefined)[]> {
    const found: number[] = [];
    const locations: PackLocation[] = [];
    ids.forEach((id, i) => {
      const entry = this.#index.getBinaryFast(id);
      if (entry === undefined) return;
      found.push(i);
      locations.push(decodeLocation(entry));
    });
    const out: (Uint8Array | undefined)[] = new Array(ids.length).fill(undefined);
    const data = this.#reader.read(locations);
    found.forEach((index, i) => (out[index] = data[i]));
    return out;
  }

  async putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    if (chunks.length === 0) return;
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
    for (const { key, value } of this.#index.getRange({})) {
      batch.push({ id: Buffer.from(key), at: decodeLocation(value) });
      if (batch.length === 256) yield* await flush();
    }
    yield* await flush();
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
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
    for (const { key, value } of this.#recipes.getRange({})) yield decodeRecipe(key, value);
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
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
    await this.#writer.close();
    this.#reader.close();
    await this.#root.flushed;
    await this.#root.close();
  }

}

const SETTINGS_KEY = "store/settings";

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
