import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { createClient, RESP_TYPES } from "@redis/client";
import { chunkStream } from "../../src/chunking/stream.js";
import type { ChunkerSpec } from "../../src/chunking/types.js";
import { xxh64Hex } from "../../src/import/xxhash64.js";
import { parseCassandraUrl } from "../../src/store/cassandra/address.js";
import { connectCassandra } from "../../src/store/cassandra/connection.js";
import { fromPieces } from "../helpers.js";

/** How the seed's storage module was configured (nitro.yaml). */
export interface SeedConfig {
  storageAlgorithm: "xxhash" | "md5" | "sha256";
  /** 0: chunks stored as they are; 1-9: zlib level. */
  compressionLevel: number;
  /** The master branch's image_type flag as the first length_list entry ("1" config, "0" layer); absent on rongyu. */
  imageTypeFlag: boolean;
}

/** docker_dedup's chunking: PyRabin with chunk_min/ave/max_size 4096/8192/65536. */
export const SEED_CHUNKER: ChunkerSpec = { algorithm: "rabin", minSize: 4096, avgSize: 8192, maxSize: 65536, tarAware: false };

export interface SeedLayerWritten {
  /** sha256 hex of the layer: its key. */
  key: string;
  chunkKeys: string[];
}

/** A seed's one flat keyspace, as docker_dedup's DAL used it (get, put), and delete for damage. */
interface SeedDatabase {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, value: Buffer): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** A Redis database (redis://HOST:PORT/DB), emptied first. */
async function openRedisDatabase(url: string): Promise<SeedDatabase> {
  // Values read as Buffers: chunk bytes decoded as UTF-8 would be corrupted.
  const client = createClient({ url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  await client.connect();
  await client.flushDb();
  return {
    get: async (key) => (await client.get(key)) ?? undefined,
    put: async (key, value) => void (await client.set(key, value)),
    delete: async (key) => void (await client.del(key)),
    close: () => client.close(),
  };
}

/**
 * The table docker_dedup's CassandraStore creates (db/cassandrastore.py) in the URL's keyspace
 * (cassandra://HOST:PORT/KEYSPACE; the seed's own is `tp`), emptied first.
 */
async function openCassandraDatabase(url: string): Promise<SeedDatabase> {
  const address = parseCassandraUrl(url);
  const db = await connectCassandra(address);
  const table = `${address.keyspace}.chunk`;
  const ddl = (statement: string) => db.execute(statement, [], { prepare: false });
  await ddl(`CREATE KEYSPACE IF NOT EXISTS ${address.keyspace} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`);
  await ddl(`CREATE TABLE IF NOT EXISTS ${table} (digest text PRIMARY KEY, block blob) WITH caching = {'keys': 'ALL', 'rows_per_partition': '1000'}`);
  await ddl(`TRUNCATE ${table}`);
  return {
    get: async (key) => (await db.execute(`SELECT block FROM ${table} WHERE digest = ?`, [key])).first()?.["block"] ?? undefined,
    put: async (key, value) => void (await db.execute(`INSERT INTO ${table} (digest, block) VALUES (?, ?)`, [key, value])),
    delete: async (key) => void (await db.execute(`DELETE FROM ${table} WHERE digest = ?`, [key])),
    close: () => db.close(),
  };
}

/**
 * Writes layers into a seed database, Redis or Cassandra by the URL's scheme, the way
 * docker_dedup's storage module did (storage/dal.py): each chunk under the hex digest of its
 * bytes if absent, then the recipe under the layer's sha256 hex,
 * `'|'.join(length_list) + ':' + ''.join(keys)`.
 */
export class SeedWriter {
  readonly config: SeedConfig;
  readonly #db: SeedDatabase;

  private constructor(db: SeedDatabase, config: SeedConfig) {
    this.#db = db;
    this.config = config;
  }

  static async open(url: string, config: SeedConfig): Promise<SeedWriter> {
    return new SeedWriter(url.startsWith("cassandra://") ? await openCassandraDatabase(url) : await openRedisDatabase(url), config);
  }

  chunkKey(chunk: Uint8Array): string {
    switch (this.config.storageAlgorithm) {
      case "xxhash":
        return xxh64Hex(chunk);
      case "md5":
        return createHash("md5").update(chunk).digest("hex");
      case "sha256":
        return createHash("sha256").update(chunk).digest("hex");
    }
  }

  /** `imageType`: "1" for a config blob, "0" for a layer (written only with `imageTypeFlag`). */
  async addLayer(bytes: Buffer, imageType: "0" | "1" = "0"): Promise<SeedLayerWritten> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of chunkStream(fromPieces([bytes]), SEED_CHUNKER)) chunks.push(chunk);
    const chunkKeys: string[] = [];
    for (const chunk of chunks) {
      const key = this.chunkKey(chunk);
      chunkKeys.push(key);
      if ((await this.#db.get(key)) === undefined) {
        await this.#db.put(key, this.config.compressionLevel > 0 ? deflateSync(chunk, { level: this.config.compressionLevel }) : Buffer.from(chunk));
      }
    }
    const key = createHash("sha256").update(bytes).digest("hex");
    await this.#db.put(key, recipeValue(chunks.map((c) => c.length), chunkKeys, this.config.imageTypeFlag ? imageType : undefined));
    return { key, chunkKeys };
  }

  /** Writes any value under any key: other keys the seed kept, or damage. */
  async set(key: string, value: Buffer | string): Promise<void> {
    await this.#db.put(key, Buffer.from(value));
  }

  async delete(key: string): Promise<void> {
    await this.#db.delete(key);
  }

  /** Moves a value to another key. */
  async rename(from: string, to: string): Promise<void> {
    const value = await this.#db.get(from);
    if (value === undefined) throw new Error(`no seed value under ${from}`);
    await this.#db.put(to, value);
    await this.#db.delete(from);
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

/**
 * The seed's recipe value: length_list is the chunk lengths folded into (about) five partial sums,
 * each a binary struct.pack("I"), so bytes such as ':' and '|' may appear in it.
 */
export function recipeValue(lengths: number[], chunkKeys: string[], imageType?: "0" | "1"): Buffer {
  const groupSize = Math.max(1, Math.ceil(lengths.length / 5));
  const lengthList: Buffer[] = imageType === undefined ? [] : [Buffer.from(imageType)];
  for (let i = 0; i < lengths.length; i += groupSize) {
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(lengths.slice(i, i + groupSize).reduce((a, b) => a + b, 0));
    lengthList.push(sum);
  }
  // One sum written as ':' and '|' bytes, as a real one can be: only the last ':' separates the keys.
  lengthList.push(Buffer.from(":|:|"));
  const parts = lengthList.flatMap((entry, i) => (i === 0 ? [entry] : [Buffer.from("|"), entry]));
  return Buffer.concat([...parts, Buffer.from(":" + chunkKeys.join(""))]);
}
