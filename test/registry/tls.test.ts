import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { run, runCli, tempDir } from "../helpers.js";
import { selfSignedCertificate } from "../tls-certificates.js";
import { serveCli, type ServeProcess } from "./harness.js";

/**
 * `serve --tls-cert FILE --tls-key FILE` (or `tlsCert`/`tlsKey` in the config file): the same
 * registry over node:https. The certificate is self-signed for 127.0.0.1 (made with the openssl
 * CLI) and trusted as the CA by the clients here: node's https and skopeo (`--*-cert-dir`).
 */

const sha = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;


/** A self-signed certificate for IP 127.0.0.1, its key, and a skopeo cert dir trusting it. */
async function makeCertificate(dir: string): Promise<{ cert: string; key: string; certDir: string; ca: Buffer }> {
  const { cert, key } = await selfSignedCertificate(dir);
  const ca = await readFile(cert);
  const certDir = join(dir, "certs.d");
  await mkdir(certDir);
  await writeFile(join(certDir, "ca.crt"), ca); // skopeo takes *.crt files in the dir as CAs
  return { cert, key, certDir, ca };
}

/** `docker-dedup serve` on a fresh store with these extra arguments. */
async function serve(t: { after(fn: () => unknown): void }, args: string[]): Promise<ServeProcess> {
  return serveCli(t, ["--store", join(await tempDir(t), "store"), ...args]);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request with node:https, trusting only `ca`. */
function https(url: string, ca: Buffer, options: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: options.method ?? "GET", ca, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

test("tls: /v2/ and a blob push and pull over HTTPS; plain HTTP and untrusting clients are turned away, the server carries on", async (t) => {
  const { cert, key, ca } = await makeCertificate(await tempDir(t));
  const registry = await serve(t, ["--tls-cert", cert, "--tls-key", key]);
  assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const base = await https(`${registry.url}/v2/`, ca);
  assert.equal(base.status, 200);
  assert.equal(base.headers["docker-distribution-api-version"], "registry/2.0");

  // A monolithic push, then a chunked one (POST, PATCH, PUT), each pulled back byte-exact.
  const small = randomBytes(64 << 10);
  const pushed = await https(`${registry.url}/v2/tls/app/blobs/uploads/?digest=${sha(small)}`, ca, {
    method: "POST",
    body: small,
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(pushed.status, 201, pushed.body.toString());
  assert.equal(pushed.headers["docker-content-digest"], sha(small));

  const big = randomBytes(3 << 20);
  const started = await https(`${registry.url}/v2/tls/app/blobs/uploads/`, ca, { method: "POST" });
  assert.equal(started.status, 202);
  const location = new URL(String(started.headers.location), registry.url);
  const patched = await https(location.href, ca, { method: "PATCH", body: big, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(patched.status, 202, patched.body.toString());
  const finish = new URL(String(patched.headers.location), registry.url);
  finish.searchParams.set("digest", sha(big));
  const finished = await https(finish.href, ca, { method: "PUT" });
  assert.equal(finished.status, 201, finished.body.toString());

  for (const blob of [small, big]) {
    const pulled = await https(`${registry.url}/v2/tls/app/blobs/${sha(blob)}`, ca);
    assert.equal(pulled.status, 200);
    assert.ok(pulled.body.equals(blob), "blob pulled back byte-exact over TLS");
  }

  // Plain HTTP to the TLS port: the connection is dropped, nothing more.
  const port = Number(new URL(registry.url).port);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    socket.on("data", () => {});
    socket.on("error", () => resolve()); // a reset is fine too
    socket.on("close", () => resolve());
    socket.setTimeout(10_000, () => reject(new Error("plain HTTP connection to the TLS port left hanging")));
  });
  await assert.rejects(fetch(`http://127.0.0.1:${port}/v2/`));
  // A client that does not trust the certificate gives up in the handshake.
  await assert.rejects(https(`${registry.url}/v2/`, Buffer.alloc(0)), /certificate|self.signed/i);

  assert.equal((await https(`${registry.url}/v2/`, ca)).status, 200, "still serving after the bad clients");
  assert.equal(registry.child.exitCode, null);
  registry.child.kill("SIGTERM");
  assert.equal(await registry.exited, 0);
  assert.doesNotMatch(registry.stderr(), /\n\s+at /);
});

test("tls: tlsCert and tlsKey in the config file, relative to its directory", async (t) => {
  const dir = await tempDir(t);
  const { ca } = await makeCertificate(dir);
  const config = join(dir, "serve.json");
  await writeFile(config, JSON.stringify({ tlsCert: "cert.pem", tlsKey: "key.pem" }));
  const registry = await serve(t, ["--config", config]);
  assert.match(registry.url, /^https:\/\//);
  assert.equal((await https(`${registry.url}/v2/`, ca)).status, 200);
});

test("tls: skopeo pushes and pulls over HTTPS with the CA in --dest-cert-dir / --src-cert-dir", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const { cert, key, certDir, ca } = await makeCertificate(dir);
  const registry = await serve(t, ["--tls-cert", cert, "--tls-key", key]);
  const host = new URL(registry.url).host;

  // A one-layer OCI layout; fresh content, as skopeo's blob-info cache is shared across runs.
  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const putBlob = async (data: Buffer) => {
    await writeFile(join(blobs, sha(data).slice(7)), data);
    return { digest: sha(data), size: data.length };
  };
  const layer = randomBytes(256 << 10);
  const layerDescriptor = { mediaType: "application/vnd.oci.image.layer.v1.tar", ...(await putBlob(layer)) };
  const config = await putBlob(Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layerDescriptor.digest] } })));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers: [layerDescriptor] }),
  );
  const manifestDescriptor = await putBlob(manifest);
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifestDescriptor, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }),
  );

  // Without the CA, skopeo refuses the certificate: TLS is verified, not skipped.
  await assert.rejects(run("skopeo", ["copy", "--quiet", "--preserve-digests", `oci:${layout}:v1`, `docker://${host}/tls/skopeo:v1`]), /x509|certificate/);

  await run("skopeo", ["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=true", "--dest-cert-dir", certDir, `oci:${layout}:v1`, `docker://${host}/tls/skopeo:v1`]);
  const stored = await https(`${registry.url}/v2/tls/skopeo/manifests/v1`, ca, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
  assert.equal(stored.status, 200);
  assert.equal(stored.headers["docker-content-digest"], manifestDescriptor.digest);

  const inspected = JSON.parse(await run("skopeo", ["inspect", "--raw", "--cert-dir", certDir, `docker://${host}/tls/skopeo:v1`])) as { layers: { digest: string }[] };
  assert.equal(inspected.layers[0]?.digest, layerDescriptor.digest);

  const out = join(dir, "pulled");
  await run("skopeo", ["copy", "--quiet", "--src-tls-verify=true", "--src-cert-dir", certDir, `docker://${host}/tls/skopeo:v1`, `dir:${out}`]);
  assert.ok((await readFile(join(out, layerDescriptor.digest.slice(7)))).equals(layer), "layer pulled back byte-exact by skopeo over TLS");
  assert.ok((await readFile(join(out, "manifest.json"))).equals(manifest));
});

test("tls: CLI errors are one clear line: a lone flag, a missing file, a file that is no certificate", async (t) => {
  const dir = await tempDir(t);
  const { cert, key } = await makeCertificate(dir);
  const store = join(dir, "store");
  const garbage = join(dir, "garbage.pem");
  await writeFile(garbage, "not a PEM file\n");
  const config = join(dir, "half.json");
  await writeFile(config, JSON.stringify({ tlsCert: "cert.pem" }));
  const cases: [string[], RegExp][] = [
    [["--tls-cert", cert], /--tls-cert and --tls-key go together/],
    [["--tls-key", key], /--tls-cert and --tls-key go together/],
    [["--tls-cert", join(dir, "missing.pem"), "--tls-key", key], /cannot read TLS certificate .*missing\.pem/],
    [["--tls-cert", cert, "--tls-key", join(dir, "missing.pem")], /cannot read TLS key .*missing\.pem/],
    [["--tls-cert", garbage, "--tls-key", key], /bad TLS certificate or key/],
    [["--tls-cert", cert, "--tls-key", cert], /bad TLS certificate or key/],
    [["--config", config], /tlsCert and tlsKey go together/],
  ];
  for (const [args, expected] of cases) {
    const result = await runCli(["serve", "--store", store, "--listen", "127.0.0.1:0", ...args]);
    assert.equal(result.code, 1, args.join(" "));
    assert.match(result.stderr, /^docker-dedup: /);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
  }
});
