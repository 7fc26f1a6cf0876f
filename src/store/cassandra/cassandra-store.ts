import { randomBytes } from "node:crypto";
import cassandra from "cassandra-driver";
import { DedupError } from "../../errors.js";
import type { ChunkId } from "../chunk-id.js";
import { decodeRecipe, encodeRecipe, type Recipe } from "../recipe.js";
import { parseSettings } from "../settings.js";
import type { ChunkEntry, Store, StoredChunk, StoreSettings, StoreUsage } from "../types.js";
import { parseCassandraUrl } from "./address.js";
import { connectCassandra, type CassandraConnection } from "./connection.js";
import { compareUtf8, familiesFor, familyOf, mergeByKey } from "./meta-scan.js";
import { awaitSchema, createSchema, migrateSchema, RECIPE_PART, schemaExists } from "./schema.js";
import { keyspaceDiskBytes } from "./usage.js";

/**
 * The store on an Apache Cassandra cluster (schema in schema.ts): every frontend that opens the
 * same URL sees the same registry.
 *
 * Chunks are one row each, keyed by their id. Writing a chunk is an idempotent upsert of the
 * same bytes under the same key, so two frontends that push the same chunk at once need no
 * claim (a lightweight transaction per chunk would cost four round trips of Paxos): they write
 * one row, twice at worst, and Cassandra keeps one copy (the memtable merges the two writes, or
 * compaction merges them if a flush fell between). The layers above ask `hasChunks` first, so
 * only a true race writes a chunk twice.
 *
 * Write order, as in the other stores: `putChunks` resolves once every chunk row is acknowledged
 * at the store's consistency (QUORUM by default: on a majority of replicas, so any later QUORUM
 * read sees it), and only then does the caller write the recipe; a recipe's parts before its
 * head (part 0). A writer that dies leaves chunk rows no recipe names, never a recipe with a
 * missing chunk.
 *
 * Durability is Cassandra's: an acknowledged write is in the commit log of as many replicas as
 * the consistency level asks for (`commitlog_sync: periodic` syncs it within 10 s; `batch`
 * before acknowledging). `sync()` has nothing left to wait for.
 *
 * Garbage collection (the contract is ChunkStore's, ../types.ts), without lightweight
 * transactions: the cells' write timestamps order what frontends do to a chunk's row.
 * - Doom: `doomed_at` set on a row read as live. `hasChunks` counts only rows whose doomed_at
 *   is null; reads do not look at it.
 * - Revive: every put writes the whole row with doomed_at null, at a later timestamp than the
 *   doom, so the put wins whatever order the writes reach the replicas in.
 * - Delete: a row read as doomed since the deadline or before is deleted `USING TIMESTAMP` of
 *   its doomed_at cell: the tombstone shadows the cells written up to the doom and nothing
 *   written after it, so a put that revived the chunk meanwhile keeps its row. This holds as long
 *   as the frontends' clocks agree far better than the grace period (a put comes at least that
 *   long after the doom it undoes), which NTP gives; a clock off by more loses nothing but a
 *   revive, which the next collection sees as a needed chunk and writes back.
 * - A doom racing a delete of the same row may leave a row holding only doomed_at: it reads as
 *   absent, lists with size 0, and the next collection deletes it.
 * - `compact` has nothing to do: a deleted row's bytes go when Cassandra's compaction merges the
 *   SSTable that holds them with the one that holds the tombstone (tombstones themselves stay
 *   for gc_grace_seconds).
 */
const META_PAGE = 256;
const SCAN_PAGE = 64;
/** Rows a page when listing chunks without their data: small rows. */
const ENTRY_PAGE = 1024;
const SETTINGS_ROW = "store";
/**
 * Chunk ids asked in one request (`WHERE id IN ?`). One request per chunk cost a pull 1.5x the CPU
 * of one per 64 ids, in the driver and in Cassandra's request handling alike, and a third of its
 * throughput (BENCHMARKS.md, "Stores: Cassandra"). Cassandra still reads each partition on its
 * own, in parallel, so the few requests per batch of the layers above keep its read threads busy.
 */
const IDS_PER_READ = 64;
/** Chunk bytes one read may return, at most, given the store's largest chunk: well under the native protocol's 16 MiB frame. */
const BYTES_PER_READ = 4 << 20;

export class CassandraStore implements Store {
  readonly location: string;
  /** A put's rows are written one by one, with no order between them. */
  readonly putsCommitWhole = false;
  readonly settings: StoreSettings;
  readonly #db: CassandraConnection;
  readonly #ks: string;
  /** Families this process has registered in meta_families (registering again is harmless). */
  readonly #families = new Set<string>();

  private constructor(db: CassandraConnection, keyspace: string, settings: StoreSettings) {
    this.location = db.location;
    this.#db = db;
    this.#ks = keyspace;
    this.settings = settings;
  }

  /** Opens the store at a cassandra:// URL; with `create`, makes the keyspace and tables if missing. */
  static async open(url: string, defaults: StoreSettings, create: boolean): Promise<CassandraStore> {
    const address = parseCassandraUrl(url);
    const db = await connectCassandra(address);
    try {
      const ks = address.keyspace;
      const exists = await schemaExists(db, ks);
      if (!exists && !create) throw new DedupError("STORE_UNAVAILABLE", `no store at ${address.location}`, { location: address.location });
      if (!exists) await createSchema(db, address);
      await migrateSchema(db, ks);
      await awaitSchema(db, ks);
      let saved: Buffer | undefined;
      if (create) {
        // Written once, by whoever creates the store: a lightweight transaction, once per open.
        const result = await db.execute(`INSERT INTO ${ks}.settings (name, value) VALUES (?, ?) IF NOT EXISTS`, [SETTINGS_ROW, Buffer.from(JSON.stringify(defaults))]);
        const row = result.first();
        saved = row?.["[applied]"] === true ? Buffer.from(JSON.stringify(defaults)) : (row?.["value"] as Buffer | undefined);
      }
      saved ??= (await db.execute(`SELECT value FROM ${ks}.settings WHERE name = ?`, [SETTINGS_ROW])).first()?.["value"] as Buffer | undefined;
      if (saved === undefined) throw new DedupError("STORE_UNAVAILABLE", `no store at ${address.location}`, { location: address.location });
      return new CassandraStore(db, ks, parseSettings(saved, address.location));
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  async hasChunks(ids: readonly ChunkId[]): Promise<boolean[]> {
    const found = await this.#readChunks("id, doomed_at", ids, IDS_PER_READ);
    return ids.map((id) => {
      const row = found.get(id.toString("latin1"));
      return row !== undefined && row["doomed_at"] === null;
    });
  }

  async getChunks(ids: readonly ChunkId[]): Promise<(Uint8Array | undefined)[]> {
    const perRead = Math.max(1, Math.min(IDS_PER_READ, Math.floor(BYTES_PER_READ / this.settings.chunker.maxSize)));
    const found = await this.#readChunks("id, data", ids, perRead);
    return ids.map((id) => (found.get(id.toString("latin1"))?.["data"] as Buffer | null | undefined) ?? undefined);
  }

  /**
   * The rows of these chunks that exist, by id (as a latin1 string), `perRead` ids a request.
   * Rows come back in token order, not the ids' order, and once per id however often it is asked.
   */
  async #readChunks(columns: string, ids: readonly ChunkId[], perRead: number): Promise<Map<string, cassandra.types.Row>> {
    const found = new Map<string, cassandra.types.Row>();
    // Equal groups: 80 ids are two requests of 40, not 64 and 16.
    const requests = Math.ceil(ids.length / perRead);
    const size = Math.ceil(ids.length / requests);
    await Promise.all(
      Array.from({ length: requests }, async (_, i) => {
        const result = await this.#db.execute(`SELECT ${columns} FROM ${this.#ks}.chunks WHERE id IN ?`, [ids.slice(i * size, (i + 1) * size)]);
        for (const row of result.rows) found.set((row["id"] as Buffer).toString("latin1"), row);
      }),
    );
    return found;
  }

  async putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    // doomed_at null: a put makes a doomed chunk live again (see the class comment).
    const insert = `INSERT INTO ${this.#ks}.chunks (id, data, size, doomed_at) VALUES (?, ?, ?, null)`;
    await Promise.all(chunks.map((chunk) => this.#db.execute(insert, [chunk.id, toBuffer(chunk.data), chunk.data.length])));
  }

  /** An INSERT overwrites the row, present or not. */
  replaceChunks(chunks: readonly StoredChunk[]): Promise<void> {
    return this.putChunks(chunks);
  }

  async *scanChunks(): AsyncIterable<StoredChunk> {
    for await (const row of this.#scan(`SELECT id, data FROM ${this.#ks}.chunks`)) {
      if (row["data"] !== null) yield { id: row["id"] as Buffer, data: row["data"] as Buffer };
    }
  }

  /** Every row of a query, a page at a time. */
  async *#scan(query: string, params: unknown[] = [], fetchSize = SCAN_PAGE): AsyncIterable<cassandra.types.Row> {
    for await (const page of this.#pages(query, params, fetchSize)) yield* page;
  }

  async *#pages(query: string, params: unknown[], fetchSize: number): AsyncIterable<cassandra.types.Row[]> {
    let pageState: string | undefined;
    do {
      const page = await this.#db.execute(query, params, { fetchSize, ...(pageState !== undefined ? { pageState } : {}) });
      yield page.rows;
      pageState = page.pageState ?? undefined;
    } while (pageState);
  }

  async *scanChunkEntries(): AsyncIterable<ChunkEntry[]> {
    for await (const rows of this.#pages(`SELECT id, size, doomed_at FROM ${this.#ks}.chunks`, [], ENTRY_PAGE)) {
      const sizes = await this.#sizesOf(rows);
      yield rows.map((row, i) => {
        const doomedAt = row["doomed_at"] as cassandra.types.Long | null;
        const entry: ChunkEntry = { id: row["id"] as Buffer, storedLength: sizes[i]! };
        if (doomedAt !== null) entry.doomedAt = doomedAt.toNumber();
        return entry;
      });
    }
  }

  /**
   * The size of each row's data: its size column, or for rows written before that column
   * existed, the length of data read now, filled in at the timestamp of data (so it never
   * outlives the row: a delete that shadows the data shadows it too). 0 for a row without data.
   */
  async #sizesOf(rows: cassandra.types.Row[]): Promise<number[]> {
    const unknown = rows.filter((row) => row["size"] === null).map((row) => row["id"] as Buffer);
    const measured = new Map<string, number>();
    if (unknown.length > 0) {
      const found = await this.#readChunks("id, data, writetime(data) AS written", unknown, IDS_PER_READ);
      await Promise.all([...found.values()].map(async (row) => {
        const data = row["data"] as Buffer | null;
        measured.set((row["id"] as Buffer).toString("latin1"), data?.length ?? 0);
        if (data !== null) await this.#db.execute(`UPDATE ${this.#ks}.chunks USING TIMESTAMP ? SET size = ? WHERE id = ?`, [row["written"], data.length, row["id"]]);
      }));
    }
    return rows.map((row) => (row["size"] as number | null) ?? measured.get((row["id"] as Buffer).toString("latin1")) ?? 0);
  }

  async doomChunks(ids: readonly ChunkId[], at: number): Promise<void> {
    const found = await this.#readChunks("id, doomed_at", ids, IDS_PER_READ);
    const live = [...found.values()].filter((row) => row["doomed_at"] === null);
    const update = `UPDATE ${this.#ks}.chunks SET doomed_at = ? WHERE id = ?`;
    await Promise.all(live.map((row) => this.#db.execute(update, [cassandra.types.Long.fromNumber(at), row["id"]])));
  }

  async deleteDoomedChunks(ids: readonly ChunkId[], doomedBy: number): Promise<{ chunks: number; bytes: number }> {
    const found = await this.#readChunks("id, size, doomed_at, writetime(doomed_at) AS doomed_write", ids, IDS_PER_READ);
    const doomed = [...found.values()].filter((row) => row["doomed_at"] !== null && (row["doomed_at"] as cassandra.types.Long).toNumber() <= doomedBy);
    const sizes = await this.#sizesOf(doomed);
    // Fenced at the doom's write: a put that revived the chunk since wrote later, and stays.
    const remove = `DELETE FROM ${this.#ks}.chunks USING TIMESTAMP ? WHERE id = ?`;
    await Promise.all(doomed.map((row) => this.#db.execute(remove, [row["doomed_write"], row["id"]])));
    return { chunks: doomed.length, bytes: sizes.reduce((sum, size) => sum + size, 0) };
  }

  /** Nothing to do on Cassandra: its own compaction drops deleted rows (see the class comment). */
  async compact(): Promise<{ packs: number; freedBytes: number }> {
    return { packs: 0, freedBytes: 0 };
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
    for (let attempt = 0; ; attempt++) {
      const rows = (await this.#db.execute(`SELECT part, data, parts, version FROM ${this.#ks}.recipes WHERE digest = ?`, [digest])).rows;
      const bytes = assembleRecipe(rows);
      if (bytes === "torn" && attempt < 5) continue; // read while another writer rewrote it: read again
      if (bytes === "torn") throw new DedupError("STORE_INVALID", `recipe of ${digest} has parts of different writes`, { digest });
      return bytes === undefined ? undefined : decodeRecipe(digest, bytes);
    }
  }

  async putRecipe(recipe: Recipe): Promise<void> {
    const bytes = encodeRecipe(recipe);
    const parts = Math.max(1, Math.ceil(bytes.length / RECIPE_PART));
    const version = randomBytes(8);
    const insert = `INSERT INTO ${this.#ks}.recipes (digest, part, data, parts, version) VALUES (?, ?, ?, ?, ?)`;
    const part = (i: number) => this.#db.execute(insert, [recipe.digest, i, bytes.subarray(i * RECIPE_PART, (i + 1) * RECIPE_PART), parts, version]);
    await Promise.all(Array.from({ length: parts - 1 }, (_, i) => part(i + 1)));
    await part(0);
  }

  async deleteRecipe(digest: string): Promise<void> {
    await this.#db.execute(`DELETE FROM ${this.#ks}.recipes WHERE digest = ?`, [digest]);
  }

  async *scanRecipes(): AsyncIterable<Recipe> {
    let digest: string | undefined;
    let rows: cassandra.types.Row[] = [];
    const finish = async (): Promise<Recipe | undefined> => {
      if (digest === undefined) return undefined;
      const bytes = assembleRecipe(rows);
      if (bytes === undefined) return undefined;
      return bytes === "torn" ? this.getRecipe(digest) : decodeRecipe(digest, bytes);
    };
    // A full scan returns each partition's rows together, in clustering (part) order.
    for await (const row of this.#scan(`SELECT digest, part, data, parts, version FROM ${this.#ks}.recipes`)) {
      if (row["digest"] !== digest) {
        const done = await finish();
        if (done !== undefined) yield done;
        digest = row["digest"] as string;
        rows = [];
      }
      rows.push(row);
    }
    const done = await finish();
    if (done !== undefined) yield done;
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    const row = (await this.#db.execute(`SELECT value FROM ${this.#ks}.meta WHERE family = ? AND key = ?`, [partitionOf(key), key])).first();
    return (row?.["value"] as Buffer | undefined) ?? undefined;
  }

  async putMeta(key: string, value: Uint8Array): Promise<void> {
    const family = partitionOf(key);
    if (!this.#families.has(family)) {
      // The family first: a scan that lists the families then finds every value written.
      await this.#db.execute(`INSERT INTO ${this.#ks}.meta_families (bucket, family) VALUES (0, ?)`, [family]);
      this.#families.add(family);
    }
    await this.#db.execute(`INSERT INTO ${this.#ks}.meta (family, key, value) VALUES (?, ?, ?)`, [family, key, toBuffer(value)]);
  }

  async deleteMeta(key: string): Promise<void> {
    await this.#db.execute(`DELETE FROM ${this.#ks}.meta WHERE family = ? AND key = ?`, [partitionOf(key), key]);
  }

  async *scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]> {
    const exclusive = after !== undefined && compareUtf8(after, prefix) >= 0;
    const start = exclusive ? after : prefix;
    const known: string[] = [];
    for await (const row of this.#scan(`SELECT family FROM ${this.#ks}.meta_families WHERE bucket = 0`)) known.push((row["family"] as string).slice(1));
    yield* mergeByKey(familiesFor(prefix, known).map((family) => this.#scanFamily(FAMILY_MARK + family, prefix, start, exclusive)));
  }

  /** Keys of one family (its partition key) from `start` on that start with `prefix`, in byte order, a page at a time. */
  async *#scanFamily(family: string, prefix: string, start: string, exclusive: boolean): AsyncIterable<[string, Buffer]> {
    let from = start;
    let op = exclusive ? ">" : ">=";
    for (;;) {
      const page = await this.#db.execute(`SELECT key, value FROM ${this.#ks}.meta WHERE family = ? AND key ${op} ? LIMIT ${META_PAGE}`, [family, from]);
      for (const row of page.rows) {
        const key = row["key"] as string;
        if (!key.startsWith(prefix)) return;
        yield [key, row["value"] as Buffer];
      }
      if (page.rowLength < META_PAGE) return;
      from = page.rows[page.rowLength - 1]!["key"] as string;
      op = ">";
    }
  }

  /** Acknowledged writes are already in the replicas' commit logs (see the class comment). */
  async sync(): Promise<void> {}

  async usage(): Promise<StoreUsage> {
    return { backendBytes: await keyspaceDiskBytes(this.#db, this.#ks), backendKind: "Cassandra disk" };
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

/** A partition key may not be empty: every family is stored behind a mark ("=registry/tag/", "=" for keys without '/'). */
const FAMILY_MARK = "=";

function partitionOf(key: string): string {
  return FAMILY_MARK + familyOf(key);
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A recipe's bytes from its part rows (in part order); undefined if its head is missing, "torn" if parts disagree. */
function assembleRecipe(rows: cassandra.types.Row[]): Buffer | undefined | "torn" {
  const head = rows[0];
  if (head === undefined || head["part"] !== 0) return undefined;
  const parts = head["parts"] as number;
  const version = head["version"] as Buffer;
  const pieces = rows.slice(0, parts);
  if (pieces.length !== parts || pieces.some((row, i) => row["part"] !== i || !version.equals(row["version"] as Buffer))) return "torn";
  return parts === 1 ? (head["data"] as Buffer) : Buffer.concat(pieces.map((row) => row["data"] as Buffer));
}
