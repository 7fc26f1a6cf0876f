import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { join } from "node:path";
import { test } from "node:test";
import { deflateRawSync } from "node:zlib";
import { PeerClient } from "../../src/sites/wire/peer-client.js";
import { MAX_PROBE_BYTES, MIN_PROBE_BYTES } from "../../src/sites/wire/peer-protocol.js";
import { RECORD_HEADER } from "../../src/store/packs.js";
import { eventually, randomBytes, runCli, tempDir } from "../helpers.js";
import { certificateAuthority } from "../tls-certificates.js";
import { OCI_MANIFEST, sha256 } from "../registry/harness.js";
import { SITE_WAIT_MS, getBytes, hasTag, pushImage, siteCluster, slowLink, stopSite, type SiteCluster, type SlowLink } from "./site-harness.js";

/**
 * Sites as separate `docker-dedup serve` processes on loopback, each with its own store and
 * peer port, one shared secret. What is pushed at one site is pulled, byte-exact, at another.
 */

/** Layers that share a part, so that the second one's transfer is only what the first lacks. */
function layers(seed: number, size: number): Buffer[] {
  const shared = randomBytes(size / 2, seed);
  return [Buffer.concat([shared, randomBytes(size / 2, seed + 1)]), Buffer.concat([shared, randomBytes(size / 4, seed + 2)])];
}

async function assertPulls(url: string, name: string, tag: string, image: { manifest: string; digest: string; blobs: string[] }, layerData: Buffer[]): Promise<void> {
  const manifest = await getBytes(url, `/v2/${name}/manifests/${tag}`, { Accept: OCI_MANIFEST });
  assert.equal(manifest.toString("utf8"), image.manifest);
  for (const [i, digest] of image.blobs.entries()) {
    const blob = await getBytes(url, `/v2/${name}/blobs/${digest}`);
    assert.equal(sha256(blob), digest);
    if (i > 0) assert.ok(blob.equals(layerData[i - 1]!));
  }
}

test("an image pushed at one site pulls byte-exact at another, which then holds it", async (t) => {
  const cluster = await siteCluster(t, ["a", "b"]);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const data = layers(11, 4 << 20);
  const image = await pushImage(a.url, "team/app", "v1", data);

  await eventually(async () => assert.ok(await hasTag(b.url, "team/app", "v1"), "b lists the tag pushed at a"), SITE_WAIT_MS);
  await assertPulls(b.url, "team/app", "v1", image, data);

  // b holds every chunk and recipe now: it serves the image with a gone.
  await stopSite(a);
  await assertPulls(b.url, "team/app", "v1", image, data);
  assert.doesNotMatch(b.stderr(), /failed|corrupt/);
});

test("peer requests without the shared secret get 401", async (t) => {
  const cluster = await siteCluster(t, ["a"]);
  await cluster.start("a");
  const peerApi = `http://127.0.0.1:${cluster.specs.get("a")!.peerPort}/dd-peer/v2`;
  assert.equal((await fetch(`${peerApi}/info`)).status, 401);
  assert.equal((await fetch(`${peerApi}/log?after=0`, { headers: { Authorization: "Bearer not-the-secret-at-all" } })).status, 401);
  assert.equal((await fetch(`${peerApi}/chunks`, { method: "POST", body: new Uint8Array(32), headers: { Authorization: `Bearer ${cluster.secret}x` } })).status, 401);
  const info = await fetch(`${peerApi}/info`, { headers: { Authorization: `Bearer ${cluster.secret}` } });
  assert.equal(info.status, 200);
  assert.deepEqual(await info.json(), { site: "a", version: 2, head: 0 });
});

test("mutual TLS between sites: an image pushed at one pulls at the other; the peer API takes only certificates the sites' CA signed", async (t) => {
  const cluster = await siteCluster(t, ["a", "b"], { tls: true });
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  assert.match(a.stderr(), /peer API on https:\/\/127\.0\.0\.1:\d+ \(mutual TLS\)/);
  const data = layers(21, 2 << 20);
  const image = await pushImage(a.url, "team/tls", "v1", data);
  await eventually(async () => assert.ok(await hasTag(b.url, "team/tls", "v1"), "b lists the tag pushed at a"), SITE_WAIT_MS);
  await assertPulls(b.url, "team/tls", "v1", image, data);

  const tls = cluster.tls!;
  const info = `https://127.0.0.1:${cluster.specs.get("a")!.peerPort}/dd-peer/v2/info`;
  const ca = await readFile(tls.ca);
  const ask = (client: { cert?: Buffer; key?: Buffer }) => httpsGet(info, { ca, ...client, headers: { Authorization: `Bearer ${cluster.secret}` } });
  const site = tls.sites.get("b")!;
  assert.equal((await ask({ cert: await readFile(site.cert), key: await readFile(site.key) })).status, 200);
  // With the secret but no certificate, or one another CA signed: refused in the handshake.
  await assert.rejects(ask({}), /certificate|socket hang up|ECONNRESET/);
  const stranger = await certificateAuthority(await tempDir(t), "other-ca");
  const foreign = await stranger.issue("intruder");
  await assert.rejects(ask({ cert: await readFile(foreign.cert), key: await readFile(foreign.key) }), /certificate|unknown ca|socket hang up|ECONNRESET/);

  // The operator's command presents a certificate of its own.
  const operator = await tls.issue("operator");
  const siteUrl = `https://127.0.0.1:${cluster.specs.get("b")!.peerPort}`;
  const tlsFlags = ["--peer-tls-cert", operator.cert, "--peer-tls-key", operator.key, "--peer-tls-ca", tls.ca];
  const status = await runCli(["sites", "--site-url", siteUrl, "--peer-secret-file", cluster.secretFile, "--json", ...tlsFlags]);
  assert.equal(status.code, 0, status.stderr);
  assert.equal((JSON.parse(status.stdout) as { peers: { name: string; reachable: boolean }[] }).peers.find((peer) => peer.name === "a")?.reachable, true);
  const plain = await runCli(["sites", "--site-url", siteUrl, "--peer-secret-file", cluster.secretFile]);
  assert.notEqual(plain.code, 0);
  assert.match(plain.stderr, /^docker-dedup: --site-url is https:\/\/.*needs this site's certificate/m);

  // A site with mutual TLS does not send its secret to an http:// peer.
  const refused = await runCli(["serve", "--store", join(await tempDir(t), "c"), "--site", "c", "--peer-listen", "127.0.0.1:0", "--peer-secret-file", cluster.secretFile, "--peer", "a=http://127.0.0.1:1", ...tlsFlags]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /peer a is http:\/\/127\.0\.0\.1:1: with mutual TLS .* https:\/\/ only/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /);
});

/** A GET over node:https with these TLS options; the status once the body is read. */
function httpsGet(url: string, options: RequestOptions): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, options, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

test("probe: N bytes that do not compress, N within bounds, behind the secret; the client times the body alone", async (t) => {
  const cluster = await siteCluster(t, ["a"]);
  await cluster.start("a");
  const peerPort = cluster.specs.get("a")!.peerPort;
  const peerApi = `http://127.0.0.1:${peerPort}/dd-peer/v2`;
  const authorization = { Authorization: `Bearer ${cluster.secret}` };
  assert.equal((await fetch(`${peerApi}/probe?bytes=${MIN_PROBE_BYTES}`)).status, 401);
  assert.equal((await fetch(`${peerApi}/probe?bytes=${MIN_PROBE_BYTES}`, { headers: { Authorization: `Bearer ${cluster.secret}x` } })).status, 401);
  for (const bytes of [MIN_PROBE_BYTES, 3 << 20, MAX_PROBE_BYTES]) {
    const res = await fetch(`${peerApi}/probe?bytes=${bytes}`, { headers: authorization });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, bytes);
    if (bytes === 3 << 20) assert.ok(deflateRawSync(body).length > body.length * 0.99, "the probe's bytes do not compress");
  }
  for (const query of [`bytes=${MIN_PROBE_BYTES - 1}`, `bytes=${MAX_PROBE_BYTES + 1}`, "bytes=100000.5", "bytes=lots", ""]) {
    const res = await fetch(`${peerApi}/probe?${query}`, { headers: authorization });
    assert.equal(res.status, 400, query);
    assert.match(await res.text(), /bytes: expected 65536 to 16777216/);
  }

  // Through a link of 2 MB/s: the client's measurement is never faster than the link (a slow machine only makes it slower).
  const link = await slowLink(t, peerPort, 2_000_000);
  const client = new PeerClient({ name: "a", url: link.url }, { secret: cluster.secret });
  t.after(() => client.close());
  const measured = await client.probe(1 << 20);
  assert.ok(measured.bytes > 0 && measured.bytes < 1 << 20, `${measured.bytes} bytes counted: all but the first piece`);
  assert.ok(measured.bytes / measured.seconds < 2_500_000, `measured ${measured.bytes} bytes in ${measured.seconds} s through a 2 MB/s link`);
  await assert.rejects(client.probe(MIN_PROBE_BYTES - 1), /peer a answered 400: bytes: expected/);
});

test("--probe-interval: a peer whose probes fail is said once, and once more when they work again", async (t) => {
  const cluster = await siteCluster(t, ["a", "b"]);
  const b = await cluster.start("b", ["--probe-interval", "0.5"]);
  assert.match(b.stderr(), /site b: .*; link probes every 0\.5 s/);
  await eventually(async () => assert.match(b.stderr(), /link probe of peer a failed: .*ECONNREFUSED/), SITE_WAIT_MS);
  // Rounds go on while a is down: give them time to fail a few more times (they must stay quiet).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await cluster.start("a");
  await eventually(async () => assert.match(b.stderr(), /link probe of peer a works again/), SITE_WAIT_MS);
  assert.equal(b.stderr().match(/link probe of peer a failed/g)!.length, 1, b.stderr());
  await stopSite(b);
});

test("a site that was down, and one that joins later, catch up with what was pushed meanwhile", async (t) => {
  const cluster = await siteCluster(t, ["a", "b", "c"]);
  const a = await cluster.start("a");
  let b = await cluster.start("b");
  const first = layers(21, 1 << 20);
  await pushImage(a.url, "lib/base", "v1", first);
  await eventually(async () => assert.ok(await hasTag(b.url, "lib/base", "v1"), "b lists v1"), SITE_WAIT_MS);

  await stopSite(b);
  const second = layers(31, 1 << 20);
  const moved = await pushImage(a.url, "lib/base", "v1", second); // the tag moves
  const added = await pushImage(a.url, "lib/base", "v2", layers(41, 1 << 20));
  const gone = await fetch(`${a.url}/v2/lib/base/manifests/v2`, { method: "DELETE" });
  assert.equal(gone.status, 202);
  const kept = await pushImage(a.url, "lib/other", "v3", first);

  b = await cluster.start("b");
  const c = await cluster.start("c");
  for (const site of [b, c]) {
    await eventually(async () => assert.ok(await hasTag(site.url, "lib/other", "v3"), "the later pushes reach a restarted and a new site"), SITE_WAIT_MS);
    await assertPulls(site.url, "lib/base", "v1", moved, second);
    await assertPulls(site.url, "lib/other", "v3", kept, first);
    assert.equal((await fetch(`${site.url}/v2/lib/base/manifests/v2`, { method: "HEAD" })).status, 404);
    assert.equal((await fetch(`${site.url}/v2/lib/base/manifests/${added.digest}`, { method: "HEAD" })).status, 200);
  }
});

/** Two sites holding one image, and a third that pulls it through slow links from both. */
async function twoHoldersAndAPuller(t: { after(fn: () => unknown): void }, layerBytes: number, bytesPerSecond?: number, cCompression?: string) {
  const cluster = await siteCluster(t, ["a", "b", "c"]);
  if (cCompression !== undefined) {
    // The store made first, with these settings (a store keeps those it was created with).
    const seed = join(await tempDir(t), "seed");
    await writeFile(seed, "x");
    assert.equal((await runCli(["add", "--store", cluster.specs.get("c")!.store, "--compression", cCompression, seed])).code, 0);
  }
  const links = new Map<string, SlowLink>();
  if (bytesPerSecond !== undefined) {
    for (const peer of cluster.specs.get("b")!.peers) {
      const link = await slowLink(t, cluster.specs.get(peer.name)!.peerPort, bytesPerSecond);
      links.set(peer.name, link);
      peer.url = link.url;
    }
  }
  const layer = randomBytes(layerBytes, 51);
  const a = await cluster.start("a");
  const c = await cluster.start("c");
  const atA = await pushImage(a.url, "big/app", "v1", [layer]);
  await pushImage(c.url, "big/copy", "v1", [layer]);
  return { cluster, a, c, layer, layerDigest: atA.blobs[1]!, links };
}

/** Starts b and waits until it knows both holders (their announcements come before their tags). */
async function startPuller(cluster: SiteCluster) {
  const b = await cluster.start("b");
  await eventually(async () => assert.ok((await hasTag(b.url, "big/app", "v1")) && (await hasTag(b.url, "big/copy", "v1")), "b lists both images"), SITE_WAIT_MS);
  return b;
}

test("a source killed in the middle of a transfer does not fail the pull", async (t) => {
  const { cluster, c, layer, layerDigest, links } = await twoHoldersAndAPuller(t, 24 << 20, 3 << 20);
  const b = await startPuller(cluster);
  const fromC = links.get("c")!;
  const before = fromC.forwarded;
  const res = await fetch(`${b.url}/v2/big/app/blobs/${layerDigest}`);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const pieces: Uint8Array[] = [];
  const first = await reader.read();
  pieces.push(first.value!);
  assert.ok(fromC.forwarded - before < layer.length / 2, "the pull streams while the transfer goes on");
  await eventually(async () => assert.ok(fromC.forwarded - before > 2 << 20, "c sends part of its share"), SITE_WAIT_MS);
  c.child.kill("SIGKILL");
  for (let piece = await reader.read(); !piece.done; piece = await reader.read()) pieces.push(piece.value);
  assert.ok(Buffer.concat(pieces).equals(layer), "the layer arrived whole and right");
  assert.match(b.stderr(), /peer c failed while sending/);
  assert.ok(fromC.forwarded - before < layer.length, "c did not send everything");
});

test("chunks that arrive corrupted from one holder are fetched again from another", async (t) => {
  // c keeps its chunks uncompressed, each apart (no runs: a holder cuts a chunk out of its run
  // checked, store/runs.ts), so that its damaged chunks leave it as they are.
  assert.match(await pullPastDamagedHolder(t, "none"), /chunks from peer c do not match their ids/);
});

test("chunks a site holds through other blobs are asked of it (one batched has) and fetched from it too", async (t) => {
  const cluster = await siteCluster(t, ["a", "b", "c"]);
  const links = new Map<string, SlowLink>();
  for (const peer of cluster.specs.get("b")!.peers) {
    const link = await slowLink(t, cluster.specs.get(peer.name)!.peerPort, 1 << 30); // counts bytes, no real limit
    links.set(peer.name, link);
    peer.url = link.url;
  }
  const shared = randomBytes(2 << 20, 71);
  const layer = Buffer.concat([shared, randomBytes(2 << 20, 72)]);
  const a = await cluster.start("a");
  const c = await cluster.start("c");
  const image = await pushImage(a.url, "part/app", "v1", [layer]);
  await pushImage(c.url, "part/other", "v1", [Buffer.concat([shared, randomBytes(1 << 20, 73)])]);
  const b = await cluster.start("b");
  await eventually(async () => assert.ok((await hasTag(b.url, "part/app", "v1")) && (await hasTag(b.url, "part/other", "v1")), "b lists both images"), SITE_WAIT_MS);
  const fromC = links.get("c")!.forwarded;
  assert.ok((await getBytes(b.url, `/v2/part/app/blobs/${image.blobs[1]}`)).equals(layer));
  // a holds the whole layer, c only its first half: the plan gives c part of that half.
  assert.ok(links.get("c")!.forwarded - fromC > 256 << 10, `c sent ${links.get("c")!.forwarded - fromC} bytes`);
});

test("a holder whose runs are damaged sends none of their chunks: they are fetched from another", async (t) => {
  assert.match(await pullPastDamagedHolder(t), /peer c lacks \d+ chunks/);
});

/**
 * Pulls the layer at b after every record of c's store was damaged (c's store made with
 * `cCompression`, if given): whole, from the other holder. Answers b's log.
 */
async function pullPastDamagedHolder(t: { after(fn: () => unknown): void }, cCompression?: string): Promise<string> {
  const { cluster, c, layer, layerDigest } = await twoHoldersAndAPuller(t, 4 << 20, undefined, cCompression);
  await stopSite(c);
  await corruptEveryChunk(cluster.specs.get("c")!.store);
  await cluster.start("c");
  const b = await startPuller(cluster);
  assert.ok((await getBytes(b.url, `/v2/big/app/blobs/${layerDigest}`)).equals(layer));
  return b.stderr();
}

/**
 * Flips the last byte of every record in an embedded store's packs: a raw chunk's (the test's
 * layers are incompressible, so stored raw) or run's last byte, or a slice's length.
 */
async function corruptEveryChunk(store: string): Promise<void> {
  const dir = join(store, "packs");
  for (const file of await readdir(dir)) {
    const pack = await readFile(join(dir, file));
    for (let at = 0; at + RECORD_HEADER <= pack.length; ) {
      const length = pack.readUInt32BE(at + 32);
      pack[at + RECORD_HEADER + length - 1]! ^= 0xff;
      at += RECORD_HEADER + length;
    }
    await writeFile(join(dir, file), pack);
  }
}
