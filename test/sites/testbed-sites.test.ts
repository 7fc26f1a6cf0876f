import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { SiteStatus } from "../../src/sites/wire/operator-calls.js";
import { eventually, randomBytes, run, runCli, tempDir } from "../helpers.js";
import { makeImage, OCI_INDEX, OCI_MANIFEST, pushManifest, sha256 } from "../registry/harness.js";
import {
  carried,
  configureLinkEstimates,
  delta,
  getBytes,
  hasTag,
  PEER_PORT,
  pushImage,
  SITE_WAIT_MS,
  siteCluster,
  stopSite,
  testbedAddress,
  type SiteCluster,
} from "./site-harness.js";
import { insideTestbed, setLinks, testInTestbed } from "./testbed.js";

/**
 * Sites as separate `docker-dedup serve` processes inside their own network namespace
 * (scripts/sites/testbed.sh): site a on 127.0.0.2, b on 127.0.0.3, c on 127.0.0.4, each
 * listening (registry :5000, peer API :5001) and connecting out from its own address, every
 * link between two sites shaped by tc. The test client is 127.0.0.1, on links not shaped.
 *
 * Run by `node --test` outside the testbed, this file runs itself inside it (one test, which
 * passes when every test inside does, and prints their report).
 */

const A = testbedAddress(0);
const B = testbedAddress(1);
const C = testbedAddress(2);
/** Every directed link between the three sites, 50 to 200 Mbit/s. */
const LINKS = [`${A}>${B}=100mbit`, `${C}>${B}=50mbit`, `${A}>${C}=200mbit`, `${B}>${C}=100mbit`, `${B}>${A}=100mbit`, `${C}>${A}=100mbit`];
const CLIENT_TIMEOUT = 180_000;

if (!insideTestbed) {
  await testInTestbed("the sites end-to-end tests, inside their own network namespace", import.meta.url, LINKS, 900_000);
} else {
  defineTests();
}

async function assertPulls(url: string, name: string, tag: string, image: { manifest: string; blobs: string[] }, layers: Buffer[]): Promise<void> {
  const manifest = await getBytes(url, `/v2/${name}/manifests/${tag}`, { Accept: OCI_MANIFEST });
  assert.equal(manifest.toString("utf8"), image.manifest);
  for (const [i, digest] of image.blobs.entries()) {
    const blob = await getBytes(url, `/v2/${name}/blobs/${digest}`);
    assert.equal(sha256(blob), digest);
    if (i > 0) assert.ok(blob.equals(layers[i - 1]!), `layer ${i - 1} byte-exact`);
  }
}

async function status(cluster: SiteCluster, host: string, image?: string): Promise<SiteStatus> {
  const result = await runCli(["sites", "--site-url", `http://${host}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile, "--json", ...(image === undefined ? [] : ["--image", image])]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as SiteStatus;
}

function percentHeld(s: SiteStatus, image: string, site: string): number {
  const entry = s.images.find((i) => i.image === image);
  assert.ok(entry, `${image} in the status of ${s.site}: ${JSON.stringify(s.images.map((i) => i.image))}`);
  return (100 * entry.held[site]!.bytes) / entry.bytes;
}

function defineTests(): void {
  test("an image pushed at site a pulls byte-exact at b, with the registry API and with skopeo; the links carry only what b lacked; `sites` shows it", { timeout: CLIENT_TIMEOUT }, async (t) => {
    const cluster = await siteCluster(t, ["a", "b"], { testbed: true });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    const shared = randomBytes(3 << 20, 101);
    const layers = [Buffer.concat([shared, randomBytes(3 << 20, 102)]), Buffer.concat([shared, randomBytes(1 << 20, 103)])];
    const image = await pushImage(a.url, "team/app", "v1", layers);
    await eventually(async () => assert.ok(await hasTag(b.url, "team/app", "v1"), "b lists the tag pushed at a"), SITE_WAIT_MS);

    const before = await carried();
    // Layer by layer, the next once b holds the last whole: a fetch starting while another still
    // stores chunks it shares would fetch them again (see the report; not yet fixed).
    const held = async (blobs: number) =>
      eventually(async () => assert.ok((await status(cluster, B, "team/app:v1")).images[0]!.held.b!.blobs >= blobs, `b holds ${blobs} blobs of team/app:v1`), SITE_WAIT_MS);
    assert.equal((await getBytes(b.url, "/v2/team/app/manifests/v1", { Accept: OCI_MANIFEST })).toString("utf8"), image.manifest);
    for (const [i, digest] of image.blobs.entries()) {
      const blob = await getBytes(b.url, `/v2/team/app/blobs/${digest}`);
      assert.equal(sha256(blob), digest);
      if (i > 0) assert.ok(blob.equals(layers[i - 1]!), `layer ${i - 1} byte-exact`);
      await held(i + 2);
    }
    const sent = delta(before, await carried(), `${A}>${B}`);
    const lacked = shared.length + (3 << 20) + (1 << 20); // the second layer's shared half came with the first
    console.log(`a>b carried ${sent} bytes for ${lacked} bytes b lacked (${((100 * sent) / lacked - 100).toFixed(2)}% over)`);
    assert.ok(sent >= lacked && sent <= lacked * 1.02 + (256 << 10), `a>b carried ${sent} bytes for ${lacked} lacking`);

    // A real client, at b, of an image pushed at a.
    const dir = await tempDir(t);
    const other = [randomBytes(2 << 20, 104)];
    const pushed = await pushImage(a.url, "e2e/skopeo", "v1", other);
    await eventually(async () => assert.ok(await hasTag(b.url, "e2e/skopeo", "v1"), "b lists the second tag"), SITE_WAIT_MS);
    await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${B}:5000/e2e/skopeo:v1`, `dir:${join(dir, "pulled")}`]);
    assert.equal(await readFile(join(dir, "pulled", "manifest.json"), "utf8"), pushed.manifest);
    assert.ok((await readFile(join(dir, "pulled", pushed.blobs[1]!.slice("sha256:".length)))).equals(other[0]!), "skopeo's layer byte-exact");

    await eventually(async () => {
      const s = await status(cluster, B);
      assert.equal(s.site, "b");
      const peer = s.peers.find((p) => p.name === "a")!;
      assert.equal(peer.reachable, true);
      assert.equal(peer.lag, 0);
      assert.equal(peer.link.source, "learned");
      assert.equal(percentHeld(s, "team/app:v1", "a"), 100);
      assert.equal(percentHeld(s, "team/app:v1", "b"), 100);
    }, SITE_WAIT_MS);
    const human = await runCli(["sites", "--site-url", `http://${B}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile]);
    assert.equal(human.code, 0, human.stderr);
    console.log(human.stdout);
    assert.match(human.stdout, /^a +http:\/\/127\.0\.0\.2:5001 +reachable/m);
    assert.match(human.stdout, /^team\/app:v1 +\S+ MiB +100\.0% 4\/4 +100\.0% 4\/4/m);
    assert.doesNotMatch(b.stderr(), /failed|corrupt/);
  });

  test("a site that was down catches up with what was pushed meanwhile; `sites` shows it unreachable meanwhile", { timeout: CLIENT_TIMEOUT }, async (t) => {
    const cluster = await siteCluster(t, ["a", "b"], { testbed: true });
    const a = await cluster.start("a");
    let b = await cluster.start("b");
    await pushImage(a.url, "lib/base", "v1", [randomBytes(1 << 20, 111)]);
    await eventually(async () => assert.ok(await hasTag(b.url, "lib/base", "v1"), "b lists v1"), SITE_WAIT_MS);

    await stopSite(b);
    const movedLayers = [randomBytes(2 << 20, 112)];
    const moved = await pushImage(a.url, "lib/base", "v1", movedLayers);
    const addedLayers = [randomBytes(1 << 20, 113)];
    const added = await pushImage(a.url, "lib/base", "v2", addedLayers);
    const down = await status(cluster, A);
    const peer = down.peers.find((p) => p.name === "b")!;
    assert.equal(peer.reachable, false);
    assert.match(peer.error ?? "", /ECONNREFUSED|b/);
    assert.equal(percentHeld(down, "lib/base:v2", "a"), 100);
    assert.equal(down.images.find((i) => i.image === "lib/base:v2")!.held.b!.source, "recorded");

    b = await cluster.start("b");
    await eventually(async () => assert.ok(await hasTag(b.url, "lib/base", "v2"), "b catches up"), SITE_WAIT_MS);
    await assertPulls(b.url, "lib/base", "v1", moved, movedLayers);
    await assertPulls(b.url, "lib/base", "v2", added, addedLayers);
  });

  test("a source killed in the middle of a transfer does not fail the pull", { timeout: CLIENT_TIMEOUT }, async (t) => {
    // Slow links, so that c is killed well before it could send its whole share however late the counters are read.
    await setLinks(`${A}>${B}=20mbit`, `${C}>${B}=20mbit`);
    t.after(() => setLinks(...LINKS));
    const cluster = await siteCluster(t, ["a", "b", "c"], { testbed: true });
    const layer = randomBytes(24 << 20, 121);
    const a = await cluster.start("a");
    const c = await cluster.start("c");
    const image = await pushImage(a.url, "big/app", "v1", [layer]);
    await pushImage(c.url, "big/copy", "v1", [layer]);
    const b = await cluster.start("b");
    await eventually(async () => assert.ok((await hasTag(b.url, "big/app", "v1")) && (await hasTag(b.url, "big/copy", "v1")), "b lists both images"), SITE_WAIT_MS);

    const before = await carried();
    const res = await fetch(`${b.url}/v2/big/app/blobs/${image.blobs[1]}`);
    assert.equal(res.status, 200);
    const body = res.arrayBuffer();
    await eventually(async () => assert.ok(delta(before, await carried(), `${C}>${B}`) > 1 << 20, "c sends part of its share"), SITE_WAIT_MS, 20);
    c.child.kill("SIGKILL");
    const pulled = Buffer.from(await body.catch((error: Error) => assert.fail(`the pull at b failed (${error.message}); b's log:\n${b.stderr()}`)));
    assert.ok(pulled.equals(layer), "the layer arrived whole and right");
    assert.match(b.stderr(), /peer c failed while sending/);
    const after = await carried();
    console.log(`c sent ${delta(before, after, `${C}>${B}`)} bytes before it was killed, a ${delta(before, after, `${A}>${B}`)}`);
    assert.ok(delta(before, after, `${C}>${B}`) < layer.length, "c did not send everything");
  });

  test("with --probe-interval, an idle link configured at 100 Mbit/s that carries 20 is probed, and its estimate falls below 40", { timeout: CLIENT_TIMEOUT }, async (t) => {
    await setLinks(`${A}>${B}=20mbit`);
    t.after(() => setLinks(...LINKS));
    const cluster = await siteCluster(t, ["a", "b"], { testbed: true });
    // b knows a from a config file, which gives the link's first estimate.
    const config = await configureLinkEstimates(t, cluster, "b", 100);
    await cluster.start("a");
    const before = await carried();
    const b = await cluster.start("b", ["--config", config, "--probe-interval", "1"]);
    const linkFromA = async () => (await status(cluster, B)).peers.find((p) => p.name === "a")!.link;
    assert.equal((await linkFromA()).configured, 12_500_000);
    const learned = await eventually(async () => {
      const link = await linkFromA();
      assert.ok(link.bytesPerSecond < 40e6 / 8, `a's link estimated at ${(link.bytesPerSecond * 8) / 1e6} Mbit/s`);
      return link;
    }, 150_000, 1000);
    console.log(`a>b (20 Mbit/s) estimated at ${((learned.bytesPerSecond * 8) / 1e6).toFixed(1)} Mbit/s after ${delta(before, await carried(), `${A}>${B}`)} bytes of probes`);
    assert.equal(learned.source, "learned");
    assert.doesNotMatch(b.stderr(), /link probe of peer a failed/);
  });

  test("replicate brings an image index (both children) to c through any site, sending only what c lacks; a clear failure otherwise", { timeout: CLIENT_TIMEOUT }, async (t) => {
    const cluster = await siteCluster(t, ["a", "b", "c"], { testbed: true });
    const a = await cluster.start("a");
    const b = await cluster.start("b");
    const c = await cluster.start("c");
    const base = randomBytes(2 << 20, 131);
    const amd = [base, randomBytes(1 << 20, 132)];
    const arm = [base, randomBytes(1 << 20, 133)];
    const amdImage = await makeImage(a.url, "multi/app", { layers: amd });
    const armImage = await makeImage(a.url, "multi/app", { layers: arm });
    for (const child of [amdImage, armImage]) assert.equal((await pushManifest(a.url, "multi/app", child.digest, child.manifest, OCI_MANIFEST)).status, 201);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { mediaType: OCI_MANIFEST, digest: amdImage.digest, size: Buffer.byteLength(amdImage.manifest), platform: { architecture: "amd64", os: "linux" } },
        { mediaType: OCI_MANIFEST, digest: armImage.digest, size: Buffer.byteLength(armImage.manifest), platform: { architecture: "arm64", os: "linux" } },
      ],
    });
    assert.equal((await pushManifest(a.url, "multi/app", "v1", index, OCI_INDEX)).status, 201);
    // c already holds the shared base layer, through an image of its own.
    await pushImage(c.url, "c/own", "v1", [base]);
    for (const site of [b, c]) await eventually(async () => assert.ok(await hasTag(site.url, "multi/app", "v1"), "the index is known everywhere"), SITE_WAIT_MS);

    const before = await carried();
    const result = await runCli(["replicate", "multi/app:v1", "--to", "c", "--site-url", `http://${B}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const done = JSON.parse(result.stdout) as { site: string; blobs: number; lacked: number; fetched: number; bytes: number };
    const intoC = delta(before, await carried(), `${A}>${C}`) + delta(before, await carried(), `${B}>${C}`);
    console.log(`replicate: ${JSON.stringify(done)}; links into c carried ${intoC} bytes`);
    assert.equal(done.site, "c");
    assert.equal(done.blobs, 8); // the index, two manifests, two configs, the base, two layers of their own
    assert.ok(done.lacked >= 2 << 20 && done.lacked < (2 << 20) + (64 << 10), `c lacked ${done.lacked}: the two 1 MiB layers and the small blobs, not the base`);
    assert.equal(done.fetched, done.lacked);
    assert.ok(intoC <= done.lacked * 1.02 + (256 << 10), `links into c carried ${intoC} for ${done.lacked} lacked`);

    const s = await status(cluster, C, "multi/app:v1");
    assert.equal(s.images.length, 1);
    assert.equal(percentHeld(s, "multi/app:v1", "c"), 100);
    assert.equal(s.images[0]!.held.c!.blobs, 8);

    // c holds everything now: it serves the whole index with a and b gone.
    await stopSite(a);
    await stopSite(b);
    assert.equal((await getBytes(c.url, "/v2/multi/app/manifests/v1", { Accept: OCI_INDEX })).toString("utf8"), index);
    await assertPulls(c.url, "multi/app", amdImage.digest, amdImage, amd);
    await assertPulls(c.url, "multi/app", armImage.digest, armImage, arm);

    const unknown = await runCli(["replicate", "multi/none:v1", "--to", "c", "--site-url", `http://${C}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /^docker-dedup: replicating multi\/none:v1 to c failed: site c does not know multi\/none:v1/m);
    const nowhere = await runCli(["replicate", "multi/app:v1", "--to", "zz", "--site-url", `http://${C}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile]);
    assert.notEqual(nowhere.code, 0);
    assert.match(nowhere.stderr, /knows no site "zz"/);
    const gone = await runCli(["replicate", "multi/app:v1", "--to", "b", "--site-url", `http://${C}:${PEER_PORT}`, "--peer-secret-file", cluster.secretFile]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /^docker-dedup: .*peer b/m);
  });
}
