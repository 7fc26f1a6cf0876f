import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { buildMirrorConfig, parseServeConfig, parseUpstreamFlag, type MirrorEntry } from "../../src/config/serve-config.js";
import { parseChallenge } from "../../src/registry/upstream.js";
import type { Mirror as RegistryMirror } from "../../src/registry/mirror.js";
import { freePort, pushImage, startReferenceRegistry } from "../e2e/reference-registry.js";
import { eventually, randomBytes, tempDir } from "../helpers.js";
import { asBody, expectError, makeImage, OCI_MANIFEST, pushManifest, sha256, startFake, startRegistry, type TestRegistry } from "./harness.js";

type T = { after(fn: () => unknown): void };

type Mirror = TestRegistry;

async function startMirror(t: T, mirrors: MirrorEntry[], options: { defaultNamespace?: string | null; manifestTtlSeconds?: number } = {}, now?: () => number): Promise<Mirror> {
  return startRegistry(t, { mirror: buildMirrorConfig(mirrors, options), ...(now === undefined ? {} : { now }) });
}

/** Debian's docker-registry with extra config lines (auth), on a free port. */
async function startDistribution(t: T, extra: string[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await tempDir(t);
  const port = await freePort();
  const config = join(dir, "config.yml");
  const lines = ["version: 0.1", "log: {level: warn, accesslog: {disabled: true}}", "storage:", `  filesystem: {rootdirectory: ${join(dir, "data")}}`, "http:", `  addr: 127.0.0.1:${port}`, ...extra, ""];
  await writeFile(config, lines.map((l) => l.replaceAll("$DIR", dir)).join("\n"));
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  };
  t.after(stop);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const status = (await fetch(`${url}/v2/`)).status;
      if (status === 200 || status === 401) return { url, stop };
    } catch {
      // not yet
    }
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not start: ${log}`);
}

async function getBytes(url: string, init: RequestInit = {}): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

const ACCEPT = { Accept: OCI_MANIFEST };

/** Pulls manifest (by tag and digest) and blobs through the mirror and checks every byte. */
async function pullAndCheck(base: string, name: string, tag: string, image: { manifest: string; digest: string; blobs: Map<string, Buffer> }, query = ""): Promise<void> {
  const byTag = await getBytes(`${base}/v2/${name}/manifests/${tag}${query}`, { headers: ACCEPT });
  assert.equal(byTag.status, 200, byTag.bytes.toString());
  assert.equal(byTag.bytes.toString(), image.manifest);
  assert.equal(byTag.headers.get("docker-content-digest"), image.digest);
  assert.equal(byTag.headers.get("content-type"), OCI_MANIFEST);
  const byDigest = await getBytes(`${base}/v2/${name}/manifests/${image.digest}${query}`, { headers: ACCEPT });
  assert.equal(byDigest.status, 200);
  assert.equal(byDigest.bytes.toString(), image.manifest);
  for (const [digest, blob] of image.blobs) {
    const got = await getBytes(`${base}/v2/${name}/blobs/${digest}${query}`);
    assert.equal(got.status, 200, `${digest}: ${got.bytes.toString().slice(0, 200)}`);
    assert.equal(got.headers.get("docker-content-digest"), digest);
    assert.ok(got.bytes.equals(blob), `blob ${digest} byte-exact`);
  }
}

describe("mirror config", () => {
  test("--upstream flags name their namespace after the host, docker.io for Docker Hub", () => {
    assert.deepEqual(parseUpstreamFlag("https://registry-1.docker.io"), { namespace: "docker.io", upstream: "https://registry-1.docker.io" });
    assert.deepEqual(parseUpstreamFlag("http://127.0.0.1:5001/"), { namespace: "127.0.0.1:5001", upstream: "http://127.0.0.1:5001" });
    assert.deepEqual(parseUpstreamFlag("ghcr.io=https://mirror.example/ghcr"), { namespace: "ghcr.io", upstream: "https://mirror.example/ghcr" });
    assert.throws(() => parseUpstreamFlag("ftp://x"), /http/);
    assert.throws(() => parseUpstreamFlag("https://u:p@x"), /credentials/);
  });

  test("config files are validated, with defaults", () => {
    const config = parseServeConfig(
      { mirrors: [{ namespace: "ghcr.io", upstream: "https://ghcr.io" }, { upstream: "https://index.docker.io", username: "u", passwordEnv: "HUB" }], manifestTtlSeconds: 60 },
      "f",
      { HUB: "secret" },
    );
    assert.equal(config.mirror?.defaultNamespace, "docker.io");
    assert.equal(config.mirror?.manifestTtlSeconds, 60);
    assert.deepEqual(config.mirror?.mirrors[1], { namespace: "docker.io", upstream: "https://index.docker.io", username: "u", password: "secret" });
    assert.equal(parseServeConfig({ mirrors: [{ upstream: "http://h:1" }] }).mirror?.defaultNamespace, "h:1");
    assert.equal(parseServeConfig({ mirrors: [{ upstream: "http://h:1" }], defaultNamespace: null }).mirror?.defaultNamespace, null);
    assert.throws(() => parseServeConfig({ mirrors: [{ upstream: "http://h" }], manifestTTL: 1 }), /unknown setting manifestTTL/);
    assert.throws(() => parseServeConfig({ mirrors: [{ upstream: "http://h", username: "u" }] }), /go together/);
    assert.throws(() => parseServeConfig({ mirrors: [{ upstream: "http://h" }, { upstream: "http://h/" }] }), /twice/);
    assert.throws(() => parseServeConfig({ mirrors: [{ upstream: "http://h" }], defaultNamespace: "x.io" }), /not one of/);
  });

  test("WWW-Authenticate challenges parse", () => {
    assert.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'), {
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
    });
    assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), { scheme: "basic", params: { realm: "Registry Realm" } });
    assert.equal(parseChallenge("Negotiate abc"), undefined);
    assert.equal(parseChallenge("Bearer service=x"), undefined);
  });
});

describe("mirror mode against docker-registry", () => {
  test("pulls through byte-exact by tag and digest; library/ names; digests survive the upstream; pushes refused", async (t) => {
    const upstream = await startReferenceRegistry(t);
    const image = await pushImage(upstream.url, "library/busybox", "latest", [randomBytes(3 << 20, 11), Buffer.from("small layer")]);
    const mirror = await startMirror(t, [{ namespace: "docker.io", upstream: upstream.url }], { manifestTtlSeconds: 3600 });

    await pullAndCheck(mirror.url, "busybox", "latest", image); // docker pull mirror/busybox
    await pullAndCheck(mirror.url, "library/busybox", "latest", image); // dockerd registry-mirrors
    await pullAndCheck(mirror.url, "library/busybox", "latest", image, "?ns=docker.io"); // containerd
    await pullAndCheck(mirror.url, "docker.io/library/busybox", "latest", image); // prefixed
    // All four forms are one repository in the store.
    const catalog = (await (await fetch(`${mirror.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ["docker.io/library/busybox"]);
    // HEAD of a manifest and a Range on a blob, from the store.
    const head = await fetch(`${mirror.url}/v2/busybox/manifests/latest`, { method: "HEAD", headers: ACCEPT });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("docker-content-digest"), image.digest);
    const [layerDigest, layer] = [...image.blobs][1]!;
    const ranged = await getBytes(`${mirror.url}/v2/busybox/blobs/${layerDigest}`, { headers: { Range: "bytes=10-19" } });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.bytes.equals(layer.subarray(10, 20)));

    // Pushes and deletes of mirrored names are refused.
    await expectError(await fetch(`${mirror.url}/v2/busybox/blobs/uploads/`, { method: "POST" }), 405, "UNSUPPORTED");
    await expectError(await pushManifest(mirror.url, "busybox", "x", image.manifest, OCI_MANIFEST), 405, "UNSUPPORTED");
    await expectError(await fetch(`${mirror.url}/v2/busybox/manifests/${image.digest}`, { method: "DELETE" }), 405, "UNSUPPORTED");
    await expectError(await fetch(`${mirror.url}/v2/busybox/blobs/${layerDigest}`, { method: "DELETE" }), 405, "UNSUPPORTED");

    // Unknown things upstream are the upstream's 404s.
    await expectError(await fetch(`${mirror.url}/v2/busybox/manifests/nope`, { headers: ACCEPT }), 404, "MANIFEST_UNKNOWN");
    await expectError(await fetch(`${mirror.url}/v2/busybox/blobs/${sha256("nothing")}`), 404, "BLOB_UNKNOWN");
    await expectError(await fetch(`${mirror.url}/v2/busybox/blobs/${sha256("nothing")}`, { method: "HEAD" }), 404, "BLOB_UNKNOWN").catch(async () => {
      // HEAD answers carry no body: only the status can be checked.
      assert.equal((await fetch(`${mirror.url}/v2/busybox/blobs/${sha256("nothing")}`, { method: "HEAD" })).status, 404);
    });
    const tags = (await (await fetch(`${mirror.url}/v2/busybox/tags/list`)).json()) as { name: string; tags: string[] };
    assert.deepEqual(tags, { name: "busybox", tags: ["latest"] });

    // With the upstream gone: everything pulled is served from the store (tags within their TTL).
    upstream.process.kill("SIGTERM");
    await new Promise((resolve) => upstream.process.once("exit", resolve));
    await pullAndCheck(mirror.url, "busybox", "latest", image);
    // What was never pulled is a clear UNAVAILABLE.
    await expectError(await fetch(`${mirror.url}/v2/busybox/manifests/other`, { headers: ACCEPT }), 503, "UNAVAILABLE");
    await expectError(await fetch(`${mirror.url}/v2/busybox/blobs/${sha256("never pulled")}`), 503, "UNAVAILABLE");
    assert.ok(mirror.logs.length > 0 && mirror.logs.every((line) => /upstream http:\/\/127\.0\.0\.1:\d+ is unreachable: connect ECONNREFUSED/.test(line)), mirror.logs.join("\n"));
  });

  test("tags are revalidated after the TTL; stale tags are served while the upstream is down", async (t) => {
    const upstream = await startReferenceRegistry(t);
    const first = await pushImage(upstream.url, "team/app", "v1", [Buffer.from("first layer")]);
    // The mirror's clock is the test's: the TTL passes when the test says so.
    let clock = Date.now();
    const mirror = await startMirror(t, [{ namespace: "registry.example", upstream: upstream.url }], { manifestTtlSeconds: 0.5 }, () => clock);
    await pullAndCheck(mirror.url, "team/app", "v1", first);
    const second = await pushImage(upstream.url, "team/app", "v1", [Buffer.from("second layer")]);
    // Within the TTL the cached tag holds.
    const cached = await getBytes(`${mirror.url}/v2/team/app/manifests/v1`, { headers: ACCEPT });
    assert.equal(cached.headers.get("docker-content-digest"), first.digest);
    clock += 600;
    await pullAndCheck(mirror.url, "team/app", "v1", second);
    // The old manifest stays reachable by digest.
    assert.equal((await getBytes(`${mirror.url}/v2/team/app/manifests/${first.digest}`, { headers: ACCEPT })).bytes.toString(), first.manifest);

    upstream.process.kill("SIGTERM");
    await new Promise((resolve) => upstream.process.once("exit", resolve));
    clock += 600;
    const stale = await getBytes(`${mirror.url}/v2/team/app/manifests/v1`, { headers: ACCEPT });
    assert.equal(stale.status, 200);
    assert.equal(stale.headers.get("docker-content-digest"), second.digest);
    assert.match(mirror.logs.join("\n"), /unrevalidated/);
  });

  test("?ns= and name prefixes select the upstream; unmirrored namespaces stay local and writable", async (t) => {
    const hub = await startReferenceRegistry(t);
    const ghcr = await startReferenceRegistry(t);
    const fromHub = await pushImage(hub.url, "org/app", "v1", [Buffer.from("hub layer")]);
    const fromGhcr = await pushImage(ghcr.url, "org/app", "v1", [Buffer.from("ghcr layer")]);
    const mirror = await startMirror(t, [
      { namespace: "docker.io", upstream: hub.url },
      { namespace: "ghcr.io", upstream: ghcr.url },
    ]);
    await pullAndCheck(mirror.url, "org/app", "v1", fromHub);
    await pullAndCheck(mirror.url, "org/app", "v1", fromHub, "?ns=docker.io");
    await pullAndCheck(mirror.url, "org/app", "v1", fromGhcr, "?ns=ghcr.io");
    await pullAndCheck(mirror.url, "ghcr.io/org/app", "v1", fromGhcr);
    // A blob of one namespace is not served from the other's repository.
    const ghcrLayer = sha256("ghcr layer");
    await expectError(await fetch(`${mirror.url}/v2/org/app/blobs/${ghcrLayer}`), 404, "BLOB_UNKNOWN");
    // containerd asking for a registry that is not mirrored: an ordinary local repository.
    const blob = Buffer.from("local blob");
    const local = await fetch(`${mirror.url}/v2/mine/app/blobs/uploads/?ns=quay.io&digest=${sha256(blob)}`, { method: "POST", body: asBody(blob) });
    assert.equal(local.status, 201);
    assert.equal((await getBytes(`${mirror.url}/v2/mine/app/blobs/${sha256(blob)}?ns=quay.io`)).bytes.toString(), "local blob");
    // Bare names belong to the default namespace (docker.io), which is read-only.
    await expectError(await fetch(`${mirror.url}/v2/mine/app/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: asBody(blob) }), 405, "UNSUPPORTED");
    const mirrorNoDefault = await startMirror(t, [{ namespace: "ghcr.io", upstream: ghcr.url }], { defaultNamespace: null });
    const own = await makeImage(mirrorNoDefault.url, "mine/app");
    assert.equal((await pushManifest(mirrorNoDefault.url, "mine/app", "v1", own.manifest, OCI_MANIFEST)).status, 201);
    await pullAndCheck(mirrorNoDefault.url, "org/app", "v1", fromGhcr, "?ns=ghcr.io");
  });

  test("basic auth (htpasswd) upstream", async (t) => {
    const htpasswd = await promisify(execFile)("htpasswd", ["-nbB", "mirror", "s3cret"]).catch(() => {
      throw new Error("htpasswd is not installed: apt-get install apache2-utils (.ci/run does)");
    });
    const dir = await tempDir(t);
    await writeFile(join(dir, "htpasswd"), htpasswd.stdout);
    const upstream = await startDistribution(t, ["auth:", "  htpasswd:", "    realm: test", `    path: ${join(dir, "htpasswd")}`]);
    const auth = `Basic ${Buffer.from("mirror:s3cret").toString("base64")}`;
    const image = await pushImage(upstream.url, "private/app", "v1", [randomBytes(100_000, 5)], auth);
    const good = await startMirror(t, [{ namespace: "private.example", upstream: upstream.url, username: "mirror", password: "s3cret" }]);
    await pullAndCheck(good.url, "private/app", "v1", image);
    const bad = await startMirror(t, [{ namespace: "private.example", upstream: upstream.url, username: "mirror", password: "wrong" }]);
    await expectError(await fetch(`${bad.url}/v2/private/app/manifests/v1`, { headers: ACCEPT }), 403, "DENIED");
    const none = await startMirror(t, [{ namespace: "private.example", upstream: upstream.url }]);
    await expectError(await fetch(`${none.url}/v2/private/app/manifests/v1`, { headers: ACCEPT }), 403, "DENIED");
  });
});

/** A fake upstream holding one image, with a bearer token service and per-path request counts. */
async function startFakeRegistry(
  t: T,
  options: { blobs: Map<string, Buffer>; corrupt?: Set<string>; slow?: boolean; bearer?: { username: string; password: string; expiresIn: number } },
): Promise<{ url: string; counts: Map<string, number> }> {
  const counts = new Map<string, number>();
  const issued = new Set<string>();
  let url = "";
  let serial = 0;
  url = await startFake(t, (req, res) => {
    const path = req.url!.split("?")[0]!;
    const key = `${req.method} ${path}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (options.bearer !== undefined) {
      if (path === "/token") {
        const expected = `Basic ${Buffer.from(`${options.bearer.username}:${options.bearer.password}`).toString("base64")}`;
        const query = new URL(req.url!, url).searchParams;
        if (req.headers.authorization !== expected || query.get("service") !== "fake" || !/^repository:[a-z/]+:pull$/.test(query.get("scope") ?? "")) {
          res.writeHead(401).end();
          return;
        }
        const token = `tok${++serial}`;
        issued.add(token);
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token, expires_in: options.bearer.expiresIn }));
        return;
      }
      const token = req.headers.authorization?.replace(/^Bearer /, "");
      if (token === undefined || !issued.has(token)) {
        const repo = /^\/v2\/(.+)\/(?:blobs|manifests)\//.exec(path)?.[1] ?? "";
        res.writeHead(401, { "WWW-Authenticate": `Bearer realm="${url}/token",service="fake",scope="repository:${repo}:pull"` }).end();
        return;
      }
    }
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    const data = blob === null ? undefined : options.blobs.get(blob[1]!);
    if (data === undefined) {
      res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "no" }] }));
      return;
    }
    let body = data;
    if (options.corrupt?.has(blob![1]!)) {
      body = Buffer.from(data);
      body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
    }
    res.writeHead(200, { "Content-Length": String(body.length), "Content-Type": "application/octet-stream", "Docker-Content-Digest": blob![1]! });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    if (!options.slow) {
      res.end(body);
      return;
    }
    let at = 0;
    const step = () => {
      if (res.destroyed) return;
      const next = Math.min(body.length, at + 256 * 1024);
      const more = res.write(body.subarray(at, next));
      at = next;
      if (at >= body.length) res.end();
      else if (more) setTimeout(step, 5);
      else res.once("drain", () => setTimeout(step, 5));
    };
    step();
  });
  return { url, counts };
}

describe("mirror mode: blob fetches", () => {
  test("a corrupted upstream blob is refused and not stored", async (t) => {
    const good = randomBytes(2 << 20, 3);
    const digest = sha256(good);
    const fake = await startFakeRegistry(t, { blobs: new Map([[digest, good]]), corrupt: new Set([digest]) });
    const mirror = await startMirror(t, [{ namespace: "fake.example", upstream: fake.url }]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(`${mirror.url}/v2/some/repo/blobs/${digest}`);
      // The status went out with the first bytes; the last piece is held back and the connection cut instead.
      await assert.rejects(res.arrayBuffer());
    }
    assert.equal(fake.counts.get(`GET /v2/some/repo/blobs/${digest}`), 2, "nothing cached, so each pull asks again");
    assert.equal(await mirror.store.getRecipe(digest), undefined);
    assert.equal(await mirror.server.registry.meta.blobLink("fake.example/some/repo", digest), undefined);
    // A Range request waits for the commit, so it gets a clean error.
    await expectError(await fetch(`${mirror.url}/v2/some/repo/blobs/${digest}`, { headers: { Range: "bytes=0-9" } }), 502, "UNAVAILABLE");
    assert.match(mirror.logs.join("\n"), /different digest/);
  });

  test("concurrent pulls of one missing blob share one upstream fetch; a client that leaves does not stop the ingest", async (t) => {
    const big = randomBytes(6 << 20, 21);
    const other = randomBytes(4 << 20, 22);
    const fake = await startFakeRegistry(t, { blobs: new Map([[sha256(big), big], [sha256(other), other]]), slow: true });
    const mirror = await startMirror(t, [{ namespace: "fake.example", upstream: fake.url }]);
    const results = await Promise.all(Array.from({ length: 6 }, () => getBytes(`${mirror.url}/v2/a/b/blobs/${sha256(big)}`)));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.ok(r.bytes.equals(big));
    }
    assert.equal(fake.counts.get(`GET /v2/a/b/blobs/${sha256(big)}`), 1);
    assert.equal((mirror.server.registry.mirror as RegistryMirror).blobFetchesStarted, 1);

    // A client that reads a little and hangs up.
    const leaving = new AbortController();
    const res = await fetch(`${mirror.url}/v2/a/b/blobs/${sha256(other)}`, { signal: leaving.signal });
    const reader = res.body!.getReader();
    await reader.read();
    leaving.abort();
    await eventually(async () => assert.ok((await mirror.server.registry.meta.blobLink("fake.example/a/b", sha256(other))) !== undefined, "the ingest to finish"), 30_000, 25);
    assert.equal(fake.counts.get(`GET /v2/a/b/blobs/${sha256(other)}`), 1);
    const again = await getBytes(`${mirror.url}/v2/a/b/blobs/${sha256(other)}`);
    assert.ok(again.bytes.equals(other));
    assert.equal(fake.counts.get(`GET /v2/a/b/blobs/${sha256(other)}`), 1, "served from the store");

    // The same bytes for another repository: a HEAD upstream, no download.
    const shared = await getBytes(`${mirror.url}/v2/c/d/blobs/${sha256(big)}`);
    assert.ok(shared.bytes.equals(big));
    assert.equal(fake.counts.get(`GET /v2/c/d/blobs/${sha256(big)}`), undefined);
    assert.equal(fake.counts.get(`HEAD /v2/c/d/blobs/${sha256(big)}`), 1);
  });

  test("bearer token flow: token fetched with basic credentials, cached per repository until it expires", async (t) => {
    const blobs = [randomBytes(50_000, 1), randomBytes(60_000, 2), randomBytes(70_000, 3)];
    const fake = await startFakeRegistry(t, { blobs: new Map(blobs.map((b) => [sha256(b), b])), bearer: { username: "bot", password: "pw", expiresIn: 6 } });
    // The mirror's clock is the test's: the token expires when the test says so.
    let clock = Date.now();
    const mirror = await startMirror(t, [{ namespace: "fake.example", upstream: fake.url, username: "bot", password: "pw" }], {}, () => clock);
    for (const b of blobs.slice(0, 2)) assert.ok((await getBytes(`${mirror.url}/v2/org/img/blobs/${sha256(b)}`)).bytes.equals(b));
    assert.equal(fake.counts.get("GET /token"), 1, "one token for both blobs");
    // A 6 s token is used for 1 s (dropped 5 s early); then a new one is fetched.
    clock += 1100;
    assert.ok((await getBytes(`${mirror.url}/v2/org/img/blobs/${sha256(blobs[2]!)}`)).bytes.equals(blobs[2]!));
    assert.equal(fake.counts.get("GET /token"), 2);

    const wrong = await startMirror(t, [{ namespace: "fake.example", upstream: fake.url, username: "bot", password: "nope" }]);
    await expectError(await fetch(`${wrong.url}/v2/org/img/blobs/${sha256(blobs[0]!)}`), 403, "DENIED");
  });
});
