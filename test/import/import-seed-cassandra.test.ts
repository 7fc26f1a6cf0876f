import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../e2e/reference-registry.js";
import { runCli, tempDir } from "../helpers.js";
import { startCassandra, type CassandraCluster } from "../cassandra/servers.js";
import { CONFIGS, fillsStore, importsEveryConfig, reportsBadLayers, type SeedServer } from "./seed-cases.js";

/**
 * `docker-dedup import-seed` from the seed's Cassandra layout (keyspace tp, table
 * chunk(digest text PRIMARY KEY, block blob)) on one real node: the cases of the Redis import,
 * seed database n being keyspace tp<n>.
 */

describe("import-seed from the seed's Cassandra", () => {
  let cassandra: CassandraCluster;
  before(async () => void (cassandra = await startCassandra()), { timeout: 300_000 });
  after(() => cassandra?.stop());
  const server: SeedServer = { seedUrl: (n) => cassandra.url(`tp${n}`) };

  it("rebuilds every layer of md5, xxhash64 and sha256 seeds, zlib or not, byte for byte", (t) => importsEveryConfig(t, server));

  it("reads keyspace tp when the URL names none, across many pages of keys, into a Cassandra store", (t) =>
    fillsStore(
      t,
      // 2500 chunks no layer names: the scan reads 3 pages of 1000 keys, and each chunk's tail;
      // the two layers' tokens put them on its first and second pages.
      { writeUrl: cassandra.url("tp"), importUrl: `cassandra://${cassandra.contactPoints[0]}`, config: CONFIGS[2]!, extraChunks: 2500 },
      cassandra.url("store"),
    ));

  it("reports each bad layer with its reason, imports the rest, and exits non-zero", (t) => reportsBadLayers(t, server));

  it("names a keyspace that holds no seed table, in one line", async (t) => {
    const r = await runCli(["import-seed", "--from", cassandra.url("nothing"), "--store", join(await tempDir(t), "store")]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `docker-dedup: ${cassandra.url("nothing")} holds no docker_dedup seed: its keyspace has no table chunk(digest text PRIMARY KEY, block blob)\n`,
    );
  });
});

it("import-seed names the seed Cassandra it cannot reach, or a bad cassandra:// URL, in one line", async (t) => {
  const store = join(await tempDir(t), "store");
  const url = `cassandra://127.0.0.1:${await freePort()}/tp`;
  const unreachable = await runCli(["import-seed", "--from", url, "--store", store]);
  assert.equal(unreachable.code, 1);
  // As the Redis import says it: the URL, then why.
  assert.equal(unreachable.stderr.startsWith(`docker-dedup: cannot reach the seed Cassandra at ${url}: `), true, unreachable.stderr);
  assert.match(unreachable.stderr, /^[^\n]+ECONNREFUSED[^\n]*\n$/);
  const badKeyspace = await runCli(["import-seed", "--from", "cassandra://127.0.0.1:9042/1tp", "--store", store]);
  assert.equal(badKeyspace.code, 1);
  assert.match(badKeyspace.stderr, /^docker-dedup: bad Cassandra .*URL .*: the keyspace must be .+\n$/);
});
