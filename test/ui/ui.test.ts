/**
 * The web page at /ui/ in a real headless browser (Debian's chromium, driven by playwright-core;
 * scripts/test-all.sh installs it): `serve` as a site with a peer, three images pushed whose
 * sharing is known from the chunker itself, the heatmap and the site map read off the page.
 * And the page's JSON API under auth: each caller sees only what they may pull.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { chromium, type Browser } from "playwright-core";
import { DEFAULT_CHUNKER } from "../../src/chunking/spec.js";
import { chunkStream } from "../../src/chunking/stream.js";
import type { ImagesAnswer } from "../../src/ui/overview.js";
import type { SitesAnswer } from "../../src/ui/sites.js";
import { eventually, fromPieces, randomBytes, tempDir } from "../helpers.js";
import { OCI_MANIFEST, pullBlob, serveCli } from "../registry/harness.js";
import { pushImage, siteCluster, SITE_WAIT_MS } from "../sites/site-harness.js";

const CHROMIUM = "/usr/bin/chromium";
const KIB = 1024;

/** The distinct chunks of blobs as the store cuts them (a fresh store has the default chunker): chunk id -> length. */
async function chunksOf(blobs: readonly Buffer[]): Promise<Map<string, number>> {
  const chunks = new Map<string, number>();
  for (const blob of blobs) {
    for await (const chunk of chunkStream(fromPieces([blob]), DEFAULT_CHUNKER)) chunks.set(createHash("sha256").update(chunk).digest("hex"), chunk.length);
  }
  return chunks;
}

function bytesInCommon(a: Map<string, number>, b: Map<string, number>): number {
  let bytes = 0;
  for (const [id, length] of a) if (b.has(id)) bytes += length;
  return bytes;
}

async function launch(t: { after(fn: () => unknown): void }): Promise<Browser> {
  // As root, chromium runs only without its sandbox; no browser is downloaded, Debian's is used.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  return browser;
}

test("the page shows images, their sharing heatmap, store totals and the site map", { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed (scripts/test-all.sh installs it)` }, async (t) => {
  const cluster = await siteCluster(t, ["paris", "lyon"]);
  const [paris, lyon] = await Promise.all([cluster.start("paris"), cluster.start("lyon")]);

  // A and B share layer L whole; C's layer starts with L's first half (CDC finds its chunks again
  // up to the one cut by the join); every other blob is random, so shares nothing.
  const shared = randomBytes(256 * KIB, 11);
  const layers = {
    "ui/a": [shared, randomBytes(96 * KIB, 12)],
    "ui/b": [shared, randomBytes(80 * KIB, 13)],
    "ui/c": [Buffer.concat([shared.subarray(0, 128 * KIB), randomBytes(128 * KIB, 14)])],
  };
  const names = Object.keys(layers) as (keyof typeof layers)[];
  const expected = new Map<string, Map<string, number>>();
  for (const name of names) {
    const image = await pushImage(paris.url, name, "v1", layers[name]);
    const config = await pullBlob(paris.url, name, image.blobs[0]!);
    expected.set(name, await chunksOf([config, ...layers[name]]));
  }
  const common = (a: string, b: string) => bytesInCommon(expected.get(a)!, expected.get(b)!);
  // The scenario is what it says: C has about half of L (up to the largest chunk around the join).
  assert.ok(common("ui/a", "ui/c") <= 128 * KIB && common("ui/a", "ui/c") >= 128 * KIB - DEFAULT_CHUNKER.maxSize, `A and C share ${common("ui/a", "ui/c")} bytes`);
  assert.equal(common("ui/a", "ui/b"), shared.length);

  const answer = (await (await fetch(`${paris.url}/ui/api/images`)).json()) as ImagesAnswer;
  assert.deepEqual(
    answer.images.map((image) => `${image.repository}:${image.tags.join(",")}`),
    names.map((name) => `${name}:v1`),
  );

  const browser = await launch(t);
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page: ${error.message}`));
  await page.goto(`${paris.url}/ui/`);

  // The heatmap: every cell's bytes in common, as the chunker says.
  await page.waitForSelector(`#heatmap td[data-row="2"][data-col="2"]`);
  const cells = await page.$$eval("#heatmap td", (tds) => tds.map((td) => [Number(td.getAttribute("data-row")), Number(td.getAttribute("data-col")), Number(td.getAttribute("data-bytes"))]));
  assert.equal(cells.length, names.length * names.length);
  for (const [row, col, bytes] of cells) assert.equal(bytes, common(names[row!]!, names[col!]!), `heatmap cell ${names[row!]} x ${names[col!]}`);
  assert.equal(await page.textContent(`#heatmap td[data-row="0"][data-col="1"]`), `${Math.round((common("ui/a", "ui/b") / common("ui/a", "ui/a")) * 100)}%`);

  // The repositories table and the first image's layers, with what each shares with which image.
  assert.deepEqual(await page.$$eval("#images tbody tr", (rows) => rows.map((row) => row.children[1]!.textContent)), names);
  const layerRows = await page.$$eval("#layers tbody tr", (rows) => rows.map((row) => ({ blob: row.getAttribute("data-blob"), shared: row.children[4]!.textContent })));
  const sharedRow = layerRows.find((row) => row.blob === answer.images[0]!.blobs[1]!.digest);
  assert.match(sharedRow?.shared ?? "", /ui\/b:v1: 256\.0 KiB \(100%\).*ui\/c:v1/);

  // Store totals: sampled at start, drawn as a chart.
  await page.waitForSelector(`#totals-chart polyline[data-series="unique"]`, { state: "attached" });

  // The site map: this site and its configured peer, with the link's estimate.
  await page.waitForSelector(`#site-map [data-site="paris"]`);
  await page.waitForSelector(`#site-map [data-peer="lyon"]`);
  assert.match((await page.textContent(`#site-map [data-link="lyon"]`)) ?? "", /Mbit\/s/);
  await page.waitForFunction(() => [...document.querySelectorAll(`#holdings td[data-site="paris"]`)].map((td) => td.textContent).join() === "100%,100%,100%");

  // Image A pulled at lyon: lyon announces it holds A's blobs, and paris's page shows it.
  const blobsOfA = answer.images[0]!.blobs.map((blob) => blob.digest);
  for (const digest of blobsOfA) await eventually(() => pullBlob(lyon.url, "ui/a", digest), SITE_WAIT_MS, 200);
  await page.waitForFunction(() => document.querySelector(`#holdings tbody tr td[data-site="lyon"]`)?.textContent === "100%", undefined, { timeout: SITE_WAIT_MS });
  const sites = (await (await fetch(`${paris.url}/ui/api/sites`)).json()) as SitesAnswer;
  assert.deepEqual(sites.peers.map((peer) => peer.name), ["lyon"]);

  assert.deepEqual(problems, []);
});

test("the page's API shows each caller only the repositories they may pull", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "users"), `alice:${bcrypt.hashSync("wonderland", 5)}\n`);
  const policy = { anonymousPull: ["public/**"], rules: [{ repositories: ["**"], users: ["alice"], actions: ["*"] }], catalog: { users: ["*"], anonymous: true } };
  await writeFile(join(dir, "policy.json"), JSON.stringify(policy));
  const serve = await serveCli(t, ["--store", join(dir, "store"), "--htpasswd", join(dir, "users"), "--auth-policy", join(dir, "policy.json")]);
  const alice = `Basic ${Buffer.from("alice:wonderland").toString("base64")}`;
  const shared = randomBytes(64 * KIB, 21);
  const authed = (url: string, init: RequestInit = {}) => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: alice } });
  // The same layer in a public and a private repository, pushed as alice.
  for (const name of ["public/app", "private/app"]) {
    const config = Buffer.from(JSON.stringify({ name }));
    const digests: string[] = [];
    for (const blob of [config, shared]) {
      const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
      const res = await authed(`${serve.url}/v2/${name}/blobs/uploads/?digest=${digest}`, { method: "POST", body: new Uint8Array(blob) });
      assert.equal(res.status, 201, await res.text());
      digests.push(digest);
    }
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digests[0], size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: digests[1], size: shared.length }] });
    const res = await authed(`${serve.url}/v2/${name}/manifests/v1`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } });
    assert.equal(res.status, 201, await res.text());
  }

  // The page itself tells nothing: anyone gets it.
  assert.equal((await fetch(`${serve.url}/ui/`)).status, 200);
  const anonymous = (await (await fetch(`${serve.url}/ui/api/images`)).json()) as ImagesAnswer;
  assert.deepEqual(anonymous.images.map((image) => image.repository), ["public/app"]);
  assert.deepEqual(anonymous.common, [[anonymous.images[0]!.uniqueBytes]]);
  assert.deepEqual(anonymous.images[0]!.blobs.map((blob) => blob.sharedWith), [[], []], "nothing of the private image shows");
  const asAlice = (await (await authed(`${serve.url}/ui/api/images`)).json()) as ImagesAnswer;
  assert.deepEqual(asAlice.images.map((image) => image.repository), ["private/app", "public/app"]);
  assert.equal(asAlice.common[0]![1], shared.length);
  const wrong = await fetch(`${serve.url}/ui/api/images`, { headers: { Authorization: `Basic ${Buffer.from("alice:nope").toString("base64")}` } });
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers.get("www-authenticate") ?? "", /^Basic /);
  assert.equal((await fetch(`${serve.url}/ui/api/totals`, { method: "POST" })).status, 405);
});
