import { createHash } from "node:crypto";
import cassandra from "cassandra-driver";
import { DedupError } from "../../errors.js";
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
 *   CREATE TABLE K.chunks (id blob PRIMARY KEY, data blob, size int, doomed_at bigint)
 *     WITH compression = {'enabled': 'false'}
 *     -- one row per chunk: id is the 32-byte SHA-256 of the plain bytes, data the stored form
 *     -- (codec byte + payload, already zstd-compressed: Cassandra's LZ4 would spend CPU for
 *     -- nothing, see the README's measurements). Rows are spread over the ring by id.
 *     -- size: the length of data, so garbage collection lists chunks without reading them
 *     -- (null in rows written before it existed: measured once, then filled in).
 *     -- doomed_at: when garbage collection doomed the chunk (ms since the epoch), null while
 *     -- it is live (cassandra-store.ts says how doom, delete and revive stay safe).
 *     -- size and doomed_at came later: an older keyspace gets them by ALTER TABLE (ADDED).
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
 *
 * A schema change reaches the other nodes a moment later (gossip), and a node that has not got
 * it yet refuses requests that need it ("table ... does not exist"). So every frontend, whether
 * it created the schema or found it, waits at open until every node that is up parses a query
 * on every table and column (`awaitSchema`). The driver's own wait after a DDL statement is not
 * enough: it compares versions as the control node's gossip sees them (down nodes included,
 * with their last version), and a frontend that finds the schema made by another runs no DDL.
 * The DDL of one frontend goes to one node (`ddlHost`), so a table is always created on a node
 * that already has its keyspace.
 */
export const RECIPE_PART = 256 * 1024;

export const TABLES: Record<string, string> = {
  settings: "(name text PRIMARY KEY, value blob)",
  chunks: "(id blob PRIMARY KEY, data blob, size int, doomed_at bigint) WITH compression = {'enabled': 'false'}",
  recipes: "(digest text, part int, data blob, parts int, version blob, PRIMARY KEY (digest, part))",
  meta: "(family text, key text, value blob, PRIMARY KEY (family, key)) WITH gc_grace_seconds = 10800",
  meta_families: "(bucket int, family text, PRIMARY KEY (bucket, family))",
};

/** Columns added after a table's first release, with their types: an older keyspace gets them at open. */
const ADDED: { table: string; column: string; type: string }[] = [
  { table: "chunks", column: "size", type: "int" },
  { table: "chunks", column: "doomed_at", type: "bigint" },
];

/** Each table's partition key, for the probe `awaitSchema` sends every node. */
const PARTITION_KEYS: Record<string, string> = { settings: "name", chunks: "id", recipes: "digest", meta: "family", meta_families: "bucket" };

/** How long an open waits for its schema to reach every node. */
const SCHEMA_WAIT_MS = 60_000;

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
  const host = ddlHost(db);
  await db.execute(`CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replication}`, [], { prepare: false, host });
  const create = (table: string) => {
    const spec = TABLES[table]!;
    const id = `id = ${tableId(ks, table)}`;
    const withId = spec.includes(" WITH ") ? spec.replace(" WITH ", ` WITH ${id} AND `) : `${spec} WITH ${id}`;
    return db.execute(`CREATE TABLE IF NOT EXISTS ${ks}.${table} ${withId}`, [], { prepare: false, host });
  };
  // Settings last: a store whose settings table exists has all of its tables. The others at
  // once (the node applies schema changes one at a time anyway).
  await Promise.all(Object.keys(TABLES).filter((t) => t !== "settings").map(create));
  await create("settings");
}

/** Adds the columns an older keyspace lacks. Idempotent: a column another frontend added meanwhile is fine. */
export async function migrateSchema(db: CassandraConnection, keyspace: string): Promise<void> {
  const rows = await db.execute("SELECT table_name, column_name FROM system_schema.columns WHERE keyspace_name = ?", [keyspace]);
  const present = new Set(rows.rows.map((row) => `${String(row["table_name"])}.${String(row["column_name"])}`));
  const host = ddlHost(db);
  for (const { table, column, type } of ADDED) {
    if (present.has(`${table}.${column}`)) continue;
    try {
      await db.execute(`ALTER TABLE ${keyspace}.${table} ADD ${column} ${type}`, [], { prepare: false, host });
    } catch (error) {
      if (!/already exists|conflicts with an existing column/i.test(String((error as Error).message))) throw error;
    }
  }
}

/**
 * Waits until every node that is up parses a query on every table and column of the store
 * (an empty `IN ()`, so no replica is asked anything): the schema has reached it.
 */
export async function awaitSchema(db: CassandraConnection, keyspace: string): Promise<void> {
  const probes = Object.entries(PARTITION_KEYS).map(([table, key]) => {
    const columns = [key, ...ADDED.filter((added) => added.table === table).map((added) => added.column)];
    return `SELECT ${columns.join(", ")} FROM ${keyspace}.${table} WHERE ${key} IN ()`;
  });
  const deadline = Date.now() + SCHEMA_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(2 * delay, 500)) {
    const lagging: string[] = [];
    await Promise.all(db.client.hosts.values().filter((host) => host.isUp()).map(async (host) => {
      try {
        await Promise.all(probes.map((probe) => db.client.execute(probe, [], { host, prepare: false, consistency: cassandra.types.consistencies.one })));
      } catch (error) {
        lagging.push(`${host.address} (${String((error as Error).message).split("\n")[0]})`);
      }
    }));
    if (lagging.length === 0) return;
    if (Date.now() + delay > deadline) {
      throw new DedupError("STORE_UNAVAILABLE", `store ${db.location}: the schema of keyspace ${keyspace} did not reach every node in ${SCHEMA_WAIT_MS / 1000} s: ${lagging.join(", ")}`, { location: db.location });
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** The node a frontend sends its DDL to: the first one up by address, so concurrent frontends mostly pick the same. */
function ddlHost(db: CassandraConnection): cassandra.Host | undefined {
  return db.client.hosts
    .values()
    .filter((host) => host.isUp())
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))[0];
}

/** A name-based UUID (version 5 layout, SHA-256 based) for a table: the same on every frontend. */
export function tableId(keyspace: string, table: string): string {
  const bytes = createHash("sha256").update(`docker-dedup:${keyspace}.${table}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
