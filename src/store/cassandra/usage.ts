import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { CassandraConnection } from "./connection.js";

/**
 * The keyspace's bytes on disk, for one copy of the data: each reachable node's SSTables of the
 * keyspace, summed, divided by the replication factor.
 *
 * Per node, from its own virtual tables (they answer for the node that coordinates the query,
 * so the query is sent to each node in turn): if the node's data directories
 * (system_views.settings) are on this machine, the allocated size of every file under
 * <dir>/<keyspace>/ (exact: SSTables and their index, filter and statistics components);
 * otherwise system_views.disk_usage, which Cassandra rounds to whole MiB per table.
 * Rows still in memtables (written, not yet flushed: they are in the shared commit log) are not
 * counted until the node flushes them; a node flushes when a memtable fills and when it drains
 * on a clean stop.
 */
export async function keyspaceDiskBytes(db: CassandraConnection, keyspace: string): Promise<number> {
  let total = 0;
  for (const host of db.client.hosts.values()) {
    if (!host.isUp()) continue;
    total += await nodeBytes(db, keyspace, host);
  }
  return Math.round(total / (await replicationFactor(db, keyspace)));
}

async function nodeBytes(db: CassandraConnection, keyspace: string, host: unknown): Promise<number> {
  const on = { host: host as never, prepare: false };
  const setting = await db.execute("SELECT value FROM system_views.settings WHERE name = 'data_file_directories'", [], on);
  const dirs = String(setting.first()?.["value"] ?? "")
    .replace(/^\[|\]$/g, "")
    .split(",")
    .map((dir) => join(dir.trim(), keyspace))
    .filter((dir) => dir !== keyspace);
  const local = await Promise.all(dirs.map((dir) => allocatedBytes(dir).catch(() => undefined)));
  if (local.length > 0 && local.every((bytes) => bytes !== undefined)) return local.reduce<number>((sum, bytes) => sum + bytes!, 0);
  const usage = await db.execute("SELECT mebibytes FROM system_views.disk_usage WHERE keyspace_name = ?", [keyspace], on);
  return usage.rows.reduce((sum, row) => sum + Number(row["mebibytes"]) * 2 ** 20, 0);
}

/** Every file's allocated bytes under `dir` (snapshots and backups excluded). */
async function allocatedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "snapshots" && entry.name !== "backups") total += await allocatedBytes(path);
    } else if (entry.isFile()) {
      total += (await stat(path)).blocks * 512;
    }
  }
  return total;
}

/** Copies of each row: SimpleStrategy's replication_factor, or the sum over NetworkTopologyStrategy's data centres. */
async function replicationFactor(db: CassandraConnection, keyspace: string): Promise<number> {
  const row = (await db.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?", [keyspace])).first();
  const replication = (row?.["replication"] ?? {}) as Record<string, string>;
  let copies = 0;
  for (const [key, value] of Object.entries(replication)) {
    if (key === "class") continue;
    const n = Number.parseInt(value, 10);
    if (Number.isFinite(n)) copies += n;
  }
  return Math.max(1, copies);
}
