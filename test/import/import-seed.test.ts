import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../e2e/reference-registry.js";
import { runCli, tempDir } from "../helpers.js";
import { startRedis, type RedisServer } from "../redis/servers.js";
import { CONFIGS, fillsStore, importsEveryConfig, reportsBadLayers, type SeedServer } from "./seed-cases.js";

/** `docker-dedup import-seed` from real redis-server databases laid out as docker_dedup wrote them (seed-cases.ts). */

describe("import-seed from the seed's Redis", () => {
  let redis: RedisServer;
  before(async () => void (redis = await startRedis()));
  after(() => redis?.stop());
  const server: SeedServer = { seedUrl: (n) => `${redis.url}/${n}` };

  it("rebuilds every layer of md5, xxhash64 and sha256 seeds, zlib or not, byte for byte", (t) => importsEveryConfig(t, server));

  it("fills a Redis store as well as an embedded one", (t) =>
    fillsStore(t, { writeUrl: server.seedUrl(4), importUrl: server.seedUrl(4), config: CONFIGS[1]! }, `${redis.url}/5`));

  it("reports each bad layer with its reason, imports the rest, and exits non-zero", (t) => reportsBadLayers(t, server));
});

it("import-seed names the seed it cannot reach, or a --from it does not understand, in one line", async (t) => {
  const store = join(await tempDir(t), "store");
  const url = `redis://127.0.0.1:${await freePort()}/0`;
  const unreachable = await runCli(["import-seed", "--from", url, "--store", store]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, new RegExp(`^docker-dedup: cannot reach the seed Redis at ${url}: .+\n$`));
  const wrongScheme = await runCli(["import-seed", "--from", "http://127.0.0.1:6379", "--store", store]);
  assert.equal(wrongScheme.code, 1);
  assert.match(
    wrongScheme.stderr,
    /^docker-dedup: --from takes the seed's Redis as redis:\/\/HOST:PORT\[\/DB\] or its Cassandra as cassandra:\/\/HOST:PORT\[,HOST:PORT\.\.\.\]\[\/KEYSPACE\], not "http:\/\/127.0.0.1:6379"\n$/,
  );
});
