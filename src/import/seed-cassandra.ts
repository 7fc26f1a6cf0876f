import type cassandra from "cassandra-driver";
import { DedupError } from "../errors.js";
import { parseCassandraUrl } from "../store/cassandra/address.js";
import { connectCassandra, unreachableReason, type CassandraConnection } from "../store/cassandra/connection.js";
import type { SeedCandidate, SeedSource } from "./seed-source.js";

/** The keyspace docker_dedup's CassandraStore created (db/cassandrastore.py), read when the URL names none. */
const SEED_KEYSPACE = "tp";
/** Its one table: chunks and layer recipes under the keys and in the encodings of its Redis layout. */
const SEED_TABLE = "chunk";
/** Keys per page of the scan: it reads keys only, so pages can be large. */
const SCAN_PAGE = 1000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The seed's Cassandra, `chunk(digest text PRIMARY KEY, block blob)` in keyspace `tp` (or the
 * URL's), read through the store's connection (connection.ts: prepared idempotent statements at
 * the URL's consistency, at most 64 in flight, retried on the next node). Every value is read by
 * its own single-partition SELECT, issued together, rather than one multi-partition `IN`, which
 * would make one coordinator gather the whole batch.
 *
 * CQL cannot filter keys by shape, cut a blob, or (Cassandra 5.0 has no length function: on
 * 5.0.9 `octet_length` and `length` are unknown functions) measure one. So the scan walks every
 * key and reads the whole value of each 64-hex key for its tail: with md5 or xxhash64 chunk keys
 * those are the layers only, with sha256 keys every chunk too; and `valueLengths` reads values.
 */
export async function openCassandraSeed(url: string): Promise<SeedSource> {
  const address = parseCassandraUrl(withSeedKeyspace(url));
  const { location } = address;
  const table = `${address.keyspace}.${SEED_TABLE}`;
  let db: CassandraConnection;
  try {
    db = await connectCassandra(address, "seed");
  } catch (error) {
    const reason = unreachableReason(error instanceof DedupError ? error.cause : error);
    throw new DedupError("STORE_UNAVAILABLE", `cannot reach the seed Cassandra at ${location}: ${reason}`, { location }, { cause: error });
  }

  /** Runs one statement; a failure ends the import, saying what it was doing. */
  async function query(what: string, cql: string, params: unknown[], options: cassandra.QueryOptions = {}): Promise<cassandra.types.ResultSet> {
    try {
      return await db.execute(cql, params, options);
    } catch (error) {
      throw seedFailure(what, error, location);
    }
  }

  /** Reads the value of each key and keeps what `keep` takes of it, so a batch holds no more than that. */
  function eachValue<T>(keys: readonly string[], keep: (value: Buffer) => T): Promise<(T | undefined)[]> {
    return Promise.all(
      keys.map(async (key) => {
        const row = (await query("reading the seed Cassandra", `SELECT block FROM ${table} WHERE digest = ?`, [key])).first();
        const block: Buffer | null | undefined = row?.["block"];
        // A row without a block (a null cell) holds no value, as a Redis key of another type.
        return block ? keep(block) : undefined;
      }),
    );
  }

  try {
    const columns = await query("reading the seed Cassandra's schema", "SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?", [
      address.keyspace,
      SEED_TABLE,
    ]);
    const types = new Map(columns.rows.map((row) => [String(row["column_name"]), String(row["type"])]));
    if (types.get("digest") !== "text" || types.get("block") !== "blob") {
      throw new DedupError("INPUT_INVALID", `${location} holds no docker_dedup seed: its keyspace has no table ${SEED_TABLE}(digest text PRIMARY KEY, block blob)`, {
        location,
      });
    }
  } catch (error) {
    await db.close();
    throw error;
  }

  return {
    location,
    async *scanLayerCandidates(tailBytes: number): AsyncIterable<SeedCandidate[]> {
      // The driver's paging: Cassandra walks the ring in token order, each page resuming after
      // the last partition of the one before, so every key comes exactly once.
      let pageState: string | undefined;
      do {
        const page = await query("scanning the seed Cassandra", `SELECT digest FROM ${table}`, [], {
          fetchSize: SCAN_PAGE,
          ...(pageState !== undefined ? { pageState } : {}),
        });
        const keys = page.rows.map((row) => String(row["digest"])).filter((key) => SHA256_HEX.test(key));
        // A copy of the tail, not a view: the view would keep each whole value alive.
        const tails = await eachValue(keys, (value) => Buffer.from(value.subarray(-tailBytes)));
        const candidates: SeedCandidate[] = [];
        keys.forEach((key, i) => tails[i] !== undefined && candidates.push({ key, tail: tails[i]! }));
        yield candidates;
        pageState = page.pageState ?? undefined;
      } while (pageState !== undefined);
    },
    getValues: (keys) => eachValue(keys, (value) => value),
    valueLengths: (keys) => eachValue(keys, (value) => value.length),
    close: () => db.close(),
  };
}

/** The URL with the seed's keyspace when it names none: `cassandra://HOST:PORT` reads `tp`. */
function withSeedKeyspace(url: string): string {
  return url.replace(/^(cassandra:\/\/[^/?]+)\/?(?=\?|$)/i, `$1/${SEED_KEYSPACE}`);
}

function seedFailure(what: string, error: unknown, location: string): DedupError {
  const message = error instanceof Error ? error.message : String(error);
  return new DedupError("STORE_UNAVAILABLE", `${what}: ${message}`, { location }, { cause: error });
}
