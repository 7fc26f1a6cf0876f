import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveSettings } from "../../src/config/resolve-settings.js";
import { parseServeConfig, serveConfigOf } from "../../src/config/serve-config.js";
import { decodeBitmap, encodeBitmap, frameHeader, MISSING_CHUNK, readFrames } from "../../src/sites/wire/peer-protocol.js";
import { fromPieces, randomPieces, runCli } from "../helpers.js";

/** The least a config file makes a site with. */
const SITE = { site: "paris", peerListen: "127.0.0.1:5001", peerSecretFile: "secret" };

/** A site's settings from serve's flags (the same names as the file's keys, but `--peer`), as serve reads them. */
const siteFromFlags = (flags: Record<string, unknown>) => serveConfigOf(resolveSettings({ flags: { ...SITE, ...flags } })).sites;

test("--peer NAME=URL, and the site keys of the serve config file", () => {
  assert.deepEqual(siteFromFlags({ peer: ["lyon=http://10.0.0.2:5001/"] })?.peers, [{ name: "lyon", url: "http://10.0.0.2:5001" }]);
  assert.throws(() => siteFromFlags({ peer: ["http://10.0.0.2:5001"] }), /NAME=URL/);
  assert.throws(() => siteFromFlags({ peer: ["Lyon=http://h:1"] }), /bad --peer "Lyon=http:\/\/h:1": expected a site name/);
  assert.deepEqual(siteFromFlags({ peer: ["lyon=https://h:1"], peerTlsCert: "c.pem", peerTlsKey: "k.pem", peerTlsCa: "ca.pem" })?.peers, [{ name: "lyon", url: "https://h:1" }]); // mutual TLS between sites
  assert.throws(() => siteFromFlags({ peer: ["lyon=ftp://h:1"] }), /http:\/\/ or https:\/\//);
  assert.throws(() => siteFromFlags({ peer: ["lyon=http://h:1/v2"] }), /HOST:PORT only/);
  assert.throws(() => siteFromFlags({ peer: ["paris=http://h:1"] }), /own name/);
  assert.throws(() => siteFromFlags({ peer: ["lyon=http://h:1", "lyon=http://h:2"] }), /twice/);

  const config = parseServeConfig({
    site: "paris",
    peerListen: "127.0.0.1:5001",
    peerSecretFile: "secret",
    schedule: "random",
    peers: [{ name: "lyon", url: "http://10.0.0.2:5001", bandwidth: 200 }, { name: "nice", url: "http://10.0.0.3:5001" }],
  });
  assert.deepEqual(config.sites, {
    site: "paris",
    peerListen: "127.0.0.1:5001",
    peerSecretFile: "secret",
    schedule: "random",
    peers: [{ name: "lyon", url: "http://10.0.0.2:5001", bytesPerSecond: 25_000_000 }, { name: "nice", url: "http://10.0.0.3:5001" }],
  });
  assert.equal(parseServeConfig({ store: "x" }).sites, undefined);
  assert.throws(() => parseServeConfig({ ...SITE, schedule: "fastest" }), /config: schedule: expected network-aware, random or single-source, got "fastest"/);
  assert.throws(() => parseServeConfig({ site: "paris", peers: [{ name: "lyon", url: "http://h:1", speed: 1 }] }), /unknown setting peers\[0\]\.speed/);
  assert.throws(() => parseServeConfig({ site: "paris", peers: [{ name: "lyon", url: "http://h:1", bandwidth: 0 }] }), /bandwidth: expected Mbit\/s/);
  assert.deepEqual(parseServeConfig({ ...SITE, peerTlsCert: "paris.pem", peerTlsKey: "paris-key.pem", peerTlsCa: "ca.pem" }).sites?.peerTls, { cert: "paris.pem", key: "paris-key.pem", ca: "ca.pem" });
  assert.throws(() => parseServeConfig({ ...SITE, peerTlsCa: 3 }), /peerTlsCa: expected a file name, got 3/);
});

test("mutual TLS settings: all three files or none, each read and checked, in one line", async () => {
  const lone = await runCli(["serve", "--site", "paris", "--peer-listen", "127.0.0.1:0", "--peer-secret-file", "/nonexistent", "--peer-tls-ca", "/nonexistent"]);
  assert.equal(lone.code, 1);
  assert.match(lone.stderr, /^docker-dedup: --peer-tls-cert, --peer-tls-key, --peer-tls-ca go together: give all three or none\n$/);
  const missing = await runCli(["sites", "--site-url", "https://127.0.0.1:1", "--peer-secret-file", "/nonexistent", "--peer-tls-cert", "/no/cert.pem", "--peer-tls-key", "/no/key.pem", "--peer-tls-ca", "/no/ca.pem"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^docker-dedup: cannot read TLS certificate \/no\/cert\.pem: ENOENT/);
});

test("--probe-interval SECONDS and the config file's probeInterval: seconds >= 0, 0 for none", () => {
  assert.equal(siteFromFlags({ probeInterval: "1" })?.probeInterval, 1);
  assert.equal(siteFromFlags({ probeInterval: "0.5" })?.probeInterval, 0.5);
  assert.equal(siteFromFlags({ probeInterval: "0" })?.probeInterval, 0);
  for (const bad of ["-1", "soon", "", " ", "Infinity", "1s"]) assert.throws(() => siteFromFlags({ probeInterval: bad }), { message: new RegExp(`^bad --probe-interval "${bad}": expected the seconds between link probes`) });

  assert.equal(parseServeConfig({ ...SITE, probeInterval: 60 }).sites?.probeInterval, 60);
  assert.equal(parseServeConfig({ ...SITE, probeInterval: 0 }).sites?.probeInterval, 0);
  assert.equal(parseServeConfig(SITE).sites?.probeInterval, undefined);
  assert.throws(() => parseServeConfig({ ...SITE, probeInterval: -5 }), /config: probeInterval: expected the seconds between link probes .*, got -5/);
  assert.throws(() => parseServeConfig({ ...SITE, probeInterval: "60" }), /config: probeInterval: expected the seconds between link probes .*, got "60"/);
});

test("serve refuses peer settings without a site, and a site without its peer listener and secret", async () => {
  const noSite = await runCli(["serve", "--peer", "lyon=http://127.0.0.1:1"]);
  assert.equal(noSite.code, 1);
  assert.match(noSite.stderr, /need --site NAME/);
  const probesNoSite = await runCli(["serve", "--probe-interval", "10"]);
  assert.equal(probesNoSite.code, 1);
  assert.match(probesNoSite.stderr, /--probe-interval need --site NAME/);
  const noListen = await runCli(["serve", "--site", "paris"]);
  assert.match(noListen.stderr, /needs --peer-listen HOST:PORT and --peer-secret-file FILE/);
});

test("peer protocol: bitmaps, and chunk frames cut however the bytes arrive", async () => {
  const bits = [true, false, false, true, true, false, true, false, true, true];
  assert.deepEqual(decodeBitmap(encodeBitmap(bits), bits.length), bits);
  assert.equal(encodeBitmap(bits).length, 2);
  assert.throws(() => decodeBitmap(Buffer.alloc(3), 10), /bitmap/);

  const chunks = [Buffer.from("one chunk"), undefined, Buffer.alloc(70_000, 7)];
  const reply = Buffer.concat(chunks.flatMap((chunk) => (chunk === undefined ? [frameHeader(MISSING_CHUNK)] : [frameHeader(chunk.length), chunk])));
  const frames = [];
  for await (const frame of readFrames(fromPieces(randomPieces(reply, 5000)) as AsyncIterable<Buffer>)) frames.push(frame);
  assert.deepEqual(frames, chunks);
  const byteByByte = [];
  for await (const frame of readFrames(fromPieces(Array.from(reply, (byte) => Buffer.of(byte))) as AsyncIterable<Buffer>)) byteByByte.push(frame);
  assert.deepEqual(byteByByte, chunks);
  const whole = [];
  for await (const frame of readFrames(fromPieces([reply]) as AsyncIterable<Buffer>)) whole.push(frame);
  assert.deepEqual(whole, chunks);
  assert.equal(whole[0]!.buffer, reply.buffer, "a frame within one piece is a view of it, not a copy");
  await assert.rejects(async () => {
    for await (const _ of readFrames(fromPieces([reply.subarray(0, reply.length - 1)]) as AsyncIterable<Buffer>));
  }, /ended inside a frame/);
});
