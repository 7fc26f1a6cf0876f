import { createHash } from "node:crypto";
import type { CassandraAddress } from "./address.js";
import type { CassandraConnection } from "./connection.js";

/**
 * The store's schema, one keyspace per store (K below):
 *
 *   CREATE KEYSPACE K WITH replication = {'class': 'SimpleStrategy', 'replication_factor': N}
 *     -- or {'class': 'NetworkTopologyStrategy', '<dc>': N} when the URL names a dc
 *
 *   CREATE TABLE K.settings (name text PRIMARY KEY, value blob)
 *     -- one row, name 'store': JSON StoreSettings, written once (INSERT ... IF NOT EXISTS)
 *
 *   CREATE TABLE K.chunks (id blob PRIMARY KEY, data blob)
 *     WITH compression = {'enabled': 'false'}
 *     -- one row per chunk: id is the 32-byte SHA-256 of the plain bytes, data the stored form
 *     -- (codec byte + payload, already zstd-compressed: Cassandra's LZ4 would spend CPU for
 *     -- nothing, see the README's measurements). Rows are spread over the ring by id.
 *
 *   CREATE TABLE K.recipes (digest text, part int, data blob, parts int, version blob,
 *                           PRIMARY KEY (digest, part))
 *     -- a blob's recipe (recipe.ts) cut into parts of at most RECIPE_PART bytes; part 0 is
 *     -- written last and carries the count of parts and a random version that every part repeats,
 *     -- so a recipe is visible only once whole, and a reader never mixes two writes of one digest.
 *
 *   CREATE TABLE K.meta (family text, key text, value blob, PRIMARY KEY (family, key))
 *     WITH gc_grace_seconds = 10800
 *     -- registry records; a partition per key family (familyOf in meta-scan.ts: the key up to
 *     -- its second '/', e.g. "registry/tag/", stored as "=registry/tag/" since a partition key
 *     -- may not be empty), keys clustered in UTF-8 byte order, so a prefix
 *     -- scan is a slice of one partition, in key order. Upload sessions come and go: 3 hours of
 *     -- tombstone grace (the hint window) instead of 10 days keeps their family's scans light.
 *
 *   CREATE TABLE K.meta_families (bucket int, family text, PRIMARY KEY (bucket, family))
 *     -- every family ever written (bucket 0, "="-marked as in meta): a scan whose prefix spans families merges them.
 *
 * Tables are created with fixed ids (a name-based UUID of keyspace and table), so frontends
 * that create a new store at the same moment agree on the schema instead of racing to two
 * versions of one table.
 */
export const RECIPE_PART = 256 * 1024;

export const TABLES: Record<string, string> = {
  settings: "(name text PRIMARY KEY, value blob)",
  chunks: "(id blob PRIMARY KEY, data blob) WITH compression = {'enabled': 'false'}",
  recipes: "(digest text, part int, data blob, parts int, version blob, PRIMARY KEY (digest, part))",
  meta: "(family text, key text, value blob, PRIMARY KEY (family, key)) WITH gc_grace_seconds = 10800",
  meta_families: "(bucket int, family text, PRIMARY KEY (bucket, family))",
};

/** Whether the store's tables exist (the settings table is created last). */
export async function schemaExists(db: CassandraConnection, keyspace: string): Promise<boolean> {
  const rows = await db.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?", [keyspace]);
  const names = new Set(rows.rows.map((row) => String(row["table_name"])));
  return Object.keys(TABLES).every((table) => names.has(table));
}

/** Creates the keyspace (with the URL's replication) and the tables that are missing. */
export async function createSchema(db: CassandraConnection, address: CassandraAddress): Promise<void> {
  const ks = address.keyspace;
  const replication =
    address.dc !== undefined
      ? `{'class': 'NetworkTopologyStrategy', '${address.dc}': ${address.replication}}`
      : `{'class': 'SimpleStrategy', 'replication_factor': ${address.replication}}`;
  await db.execute(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replication}`, [], { prepare: false });
  // Settings last: a store whose settings table exists has all of its tables.
  for (const table of [...Object.keys(TABLES).filter((t) => t !== "settings"), "settings"]) {
    const spec = TABLES[table]!;
    const id = `id = ${tableId(ks, table)}`;
    const withId = spec.includes(" WITH ") ? spec.replace(" WITH ", ` WITH ${id} AND `) : `${spec} WITH ${id}`;
    await db.execute(`CREATE TABLE IF NOT EXISTS ${ks}.${table} ${withId}`, [], { prepare: false });
  }
}

/** A name-based UUID (version 5 layout, SHA-256 based) for a table: the same on every frontend. */
export function tableId(keyspace: string, table: string): string {
  const bytes = createHash("sha256").update(`docker-dedup:${keyspace}.${table}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
