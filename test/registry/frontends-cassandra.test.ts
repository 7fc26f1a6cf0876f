import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { randomBytes, runCli, tempDir } from "../helpers.js";
import { startCassandra, type CassandraCluster } from "../cassandra/servers.js";
import { assertStoreDown, makeImage, OCI_MANIFEST, pullBlob, pushManifest, serveCli, sha256, startFrontends, pushAfterOutage } from "./harness.js";

/**
 * Several `docker-dedup serve` processes on one Cassandra behave as one registry, and an outage
 * of Cassandra turns into fast 503s and a log line, then heals by itself.
 */

describe("frontends on one Cassandra node", () => {
  let server: CassandraCluster;
  // batch: a write is acknowledged once in the commit log on disk, so the crash below loses none
  // (with Cassandra's default, periodic, a single node's SIGKILL loses up to 10 s of them).
  before(async () => void (server = await startCassandra({ commitlogSync: "batch" })), { timeout: 300_000 });
  after(() => server?.stop());

  it("an image pushed through one frontend pulls byte-exact through the other", async (t) => {
    const store = server.url("image");
    const [a, b] = await startFrontends(t, store, 2);
    const layer = randomBytes(3 << 20, 11);
    const image = await makeImage(a!.url, "team/app", { layers: [layer] });
    assert.equal((await pushManifest(a!.url, "team/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
    const manifest = await fetch(`${b!.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200);
    assert.equal(await manifest.text(), image.manifest);
    assert.ok((await pullBlob(b!.url, "team/app", image.blobs[1]!)).equals(layer));
    const tags = await (await fetch(`${b!.url}/v2/team/app/tags/list`)).json();
    assert.deepEqual(tags, { name: "team/app", tags: ["v1"] });
    const catalog = await (await fetch(`${a!.url}/v2/_catalog`)).json();
    assert.deepEqual(catalog, { repositories: ["team/app"] });

    const verify = await runCli(["verify", "--store", store]);
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);
    const stats = JSON.parse((await runCli(["stats", "--json", "--store", store])).stdout) as { backendKind: string; logicalBytes: number };
    assert.equal(stats.backendKind, "Cassandra disk");
  });

  it("two frontends pushing layers that share chunks at once store each chunk once", async (t) => {
    const store = server.url("shared");
    const [a, b] = await startFrontends(t, store, 2);
    const base = randomBytes(4 << 20, 21);
    const layers = [Buffer.concat([base, randomBytes(1 << 20, 22)]), Buffer.concat([base, randomBytes(1 << 20, 23)])];
    const pushes = await Promise.all(
      layers.map((layer, i) =>
        fetch(`${[a!, b!][i]!.url}/v2/team/shared/blobs/uploads/?digest=${sha256(layer)}`, { method: "POST", body: new Uint8Array(layer) }),
      ),
    );
    for (const res of pushes) assert.equal(res.status, 201, await res.text());
    for (const [i, layer] of layers.entries()) assert.ok((await pullBlob([b!, a!][i]!.url, "team/shared", sha256(layer))).equals(layer));
    const stats = JSON.parse((await runCli(["stats", "--json", "--store", store])).stdout) as { uniqueBytes: number; logicalBytes: number };
    // Every distinct chunk once: the base once and both tails, give or take the chunks where they meet.
    assert.ok(stats.uniqueBytes < base.length + 2 * (1 << 20) + 4 * 65_536, `distinct bytes ${stats.uniqueBytes}`);
    assert.equal(stats.logicalBytes, layers[0]!.length + layers[1]!.length);
  });

  it("takes its store from serve's config file", async (t) => {
    const file = join(await tempDir(t), "serve.json");
    await writeFile(file, JSON.stringify({ store: server.url("configured") }));
    const frontend = await serveCli(t, ["--config", file]);
    assert.match(frontend.stderr(), /\(store cassandra:\/\/127\.0\.0\.1:\d+\/configured\)/);
  });

  it("answers 503 at once while Cassandra is down, logs it, and serves again when it is back", async (t) => {
    const frontend = await serveCli(t, ["--store", server.url("outage")]);
    const layer = randomBytes(1 << 20, 41);
    const image = await makeImage(frontend.url, "team/outage", { layers: [layer] });
    const node = server.nodes[0]!;
    await node.kill();

    await assertStoreDown(frontend, image.blobs[1]!);

    await node.restart();
    await pushAfterOutage(frontend.url, 60000, 250);
    assert.match(frontend.stderr(), /connected again/);
    assert.ok((await pullBlob(frontend.url, "team/outage", image.blobs[1]!)).equals(layer));
  });
});
