import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import type { Store } from "../../src/store/types.js";
import { makeImage, OCI_MANIFEST, startRegistry, type TestRegistry } from "../registry/harness.js";
import { chunked, exchange, type RawRequest, type RawResponse } from "./raw-http.js";

/**
 * Hostile input, generated: malformed names, digests, ranges, upload sequences, manifests, tags,
 * query parameters, raw garbage and slow bodies, sent at the byte level to a real registry.
 * After every request: the server still answers, never with a 5xx; every error is one of the
 * spec's codes in its JSON envelope; a refused request stored nothing (no key of the registry's
 * records, no recipe, no upload progress appears or changes); no request handler failed outside
 * its error handling. At the end `verify` finds the store whole.
 *
 * The seed is fixed, so a failure reproduces; DOCKER_DEDUP_FUZZ_RUNS sets the number of cases
 * (default 600, about half a minute here), DOCKER_DEDUP_FUZZ_SEED another seed. A failing case is
 * shrunk by fast-check and printed with its seed and path.
 */

const RUNS = Number(process.env.DOCKER_DEDUP_FUZZ_RUNS ?? 600);
const SEED = Number(process.env.DOCKER_DEDUP_FUZZ_SEED ?? 20261205);

/** The spec's fourteen error codes: the only ones a client's mistake may get. */
const SPEC_CODES = new Set([
  "BLOB_UNKNOWN",
  "BLOB_UPLOAD_INVALID",
  "BLOB_UPLOAD_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_BLOB_UNKNOWN",
  "MANIFEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "DENIED",
  "UNSUPPORTED",
  "TOOMANYREQUESTS",
]);

/** Small limits, so that "too large" and "too slow" are reached in milliseconds. */
const LIMITS = { maxBlobBytes: 256 * 1024, maxManifestBytes: 16 * 1024, minBodyBytesPerSecond: 50_000, bodyWindowMs: 200 };

/** What exists when the cases start, for them to point at. */
interface World {
  port: number;
  repo: string;
  otherRepo: string;
  blobs: string[];
  blobSizes: number[];
  manifest: string;
  manifestDigest: string;
  /** The upload session a case opened last (its Location), if any, and how far it is. */
  upload?: string;
  uploadOffset: number;
}

// ---------------------------------------------------------------- arbitraries

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex"));

/** Names: the world's, valid unknown ones, and every kind of invalid one. */
const nameArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("$repo", "$other") },
  { weight: 2, arbitrary: fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8}){0,2}(?:\/[a-z0-9]{1,8}){0,3}$/) },
  {
    weight: 3,
    arbitrary: fc.constantFrom("Upper/Case", "a/../b", "a//b", "-a", "a-", "x".repeat(300), "%2e%2e/etc", "a%2Fb", "..", ".", "a:b", "a@b", "a%00b", "%ff", "a b", "\u00e9t\u00e9", "_catalog"),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s) || "x") },
);

/** Digests: the world's blobs and manifest, unknown ones, other algorithms and garbage. */
const digestArb = fc.oneof(
  { weight: 5, arbitrary: fc.nat({ max: 2 }).map((i) => `$blob${i}`) },
  { weight: 2, arbitrary: fc.constant("$manifest") },
  { weight: 2, arbitrary: hex64.map((h) => `sha256:${h}`) },
  {
    weight: 3,
    arbitrary: fc.oneof(
      hex64.map((h) => `sha256:${h.toUpperCase()}`),
      hex64.map((h) => `sha256:${h.slice(1)}`),
      hex64.map((h) => `sha512:${h}${h}`),
      hex64.map((h) => h),
      fc.constantFrom("sha256:", ":", "sha256:zz", "md5:abc", "sha256%3A00", "x".repeat(500)),
      fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(s) || "y"),
    ),
  },
);

const rangeArb = fc.option(
  fc.oneof(
    fc.tuple(fc.nat({ max: 5000 }), fc.nat({ max: 5000 })).map(([a, b]) => `bytes=${a}-${b}`),
    fc.nat({ max: 5000 }).map((a) => `bytes=${a}-`),
    fc.nat({ max: 5000 }).map((a) => `bytes=-${a}`),
    fc.constantFrom("bytes=0-1,5-6", "items=0-1", "bytes=", "bytes=-", "bytes=99999999999999999999-", "bytes=1-0", "garbage", "bytes=0-18446744073709551616"),
    fc.string({ maxLength: 20 }),
  ),
  { nil: undefined },
);

const queryArb = fc.option(
  fc.oneof(
    fc.tuple(fc.integer({ min: -5, max: 20000 }), fc.option(fc.string({ maxLength: 20 }), { nil: undefined })).map(([n, last]) => `n=${n}${last === undefined ? "" : `&last=${encodeURIComponent(last)}`}`),
    fc.constantFrom("n=abc", "n=", "last=" + "a".repeat(4100), "last=" + "%ff%fe", "n=1e9", "n=99999999999999999999", "ns=docker.io", "&&&", "n=1&n=2"),
  ),
  { nil: undefined },
);

/** A request body and how it is framed. */
const bodyArb = fc.record({
  bytes: fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
    { weight: 1, arbitrary: fc.integer({ min: LIMITS.maxBlobBytes - 10, max: LIMITS.maxBlobBytes + 5000 }).map((n) => new Uint8Array(n)) },
  ),
  framing: fc.constantFrom("length", "chunked", "length-short", "length-long", "none"),
  pieces: fc.integer({ min: 1, max: 4 }),
});

/** Content-Range of a PATCH: right, off by some, malformed or absent. */
const contentRangeArb = fc.oneof(
  fc.constant<"right" | "none">("right"),
  fc.constant<"right" | "none">("none"),
  fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 3 })),
  fc.constantFrom("0-", "a-b", "5-2", "bytes 0-10/*", "0-99999999999999999999", "-1-5"),
);

type Shape =
  | { kind: "blob"; method: "GET" | "HEAD" | "DELETE"; name: string; digest: string; range: string | undefined }
  | { kind: "start"; name: string; query: "none" | "digest-right" | "digest-wrong" | "digest-bad" | "mount" | "mount-missing"; body: Body }
  | { kind: "upload"; method: "GET" | "PATCH" | "PUT" | "DELETE"; name: string; session: "current" | "unknown" | "garbage"; body: Body; range: ContentRange; digest: "right" | "wrong" | "none" | "bad" }
  | { kind: "manifest-put"; name: string; reference: string; variant: ManifestVariant; contentType: string; framing: "length" | "chunked" }
  | { kind: "manifest"; method: "GET" | "HEAD" | "DELETE"; name: string; reference: string; accept: string | undefined }
  | { kind: "list"; what: "tags" | "catalog" | "referrers"; name: string; digest: string; query: string | undefined }
  | { kind: "raw"; bytes: Uint8Array }
  | { kind: "slow"; name: string };

type Body = { bytes: Uint8Array; framing: "length" | "chunked" | "length-short" | "length-long" | "none"; pieces: number };
type ContentRange = "right" | "none" | [number, number] | string;
type ManifestVariant = "valid" | "bad-json" | "duplicate-keys" | "huge" | "wrong-type" | "missing-blob" | "wrong-size" | "not-object" | "index-missing";

const referenceArb = fc.oneof(
  fc.constantFrom("latest", "v1", "$manifest"),
  fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/),
  fc.constantFrom(".hidden", "-dash", "x".repeat(129), "a:b", "sha256:abc", "%2e%2e", "tag%2Fslash"),
  digestArb,
);

const shapeArb: fc.Arbitrary<Shape> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("blob" as const), method: fc.constantFrom("GET" as const, "HEAD" as const, "DELETE" as const), name: nameArb, digest: digestArb, range: rangeArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("start" as const),
      name: nameArb,
      query: fc.constantFrom("none" as const, "digest-right" as const, "digest-wrong" as const, "digest-bad" as const, "mount" as const, "mount-missing" as const),
      body: bodyArb,
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("upload" as const),
      method: fc.constantFrom("GET" as const, "PATCH" as const, "PATCH" as const, "PUT" as const, "DELETE" as const),
      name: nameArb,
      session: fc.constantFrom("current" as const, "current" as const, "unknown" as const, "garbage" as const),
      body: bodyArb,
      range: contentRangeArb,
      digest: fc.constantFrom("right" as const, "wrong" as const, "none" as const, "bad" as const),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("manifest-put" as const),
      name: nameArb,
      reference: referenceArb,
      variant: fc.constantFrom<ManifestVariant>("valid", "bad-json", "duplicate-keys", "huge", "wrong-type", "missing-blob", "wrong-size", "not-object", "index-missing"),
      contentType: fc.constantFrom(OCI_MANIFEST, "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json", "text/plain", "", "application/json; charset=utf-8"),
      framing: fc.constantFrom("length" as const, "chunked" as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("manifest" as const),
      method: fc.constantFrom("GET" as const, "HEAD" as const, "DELETE" as const),
      name: nameArb,
      reference: referenceArb,
      accept: fc.option(fc.constantFrom(OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json", "*/*", "text/html", "garbage;;;"), { nil: undefined }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("list" as const), what: fc.constantFrom("tags" as const, "catalog" as const, "referrers" as const), name: nameArb, digest: digestArb, query: queryArb }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("raw" as const),
      bytes: fc.oneof(
        // Never only line ends: node waits for a request after those, as HTTP allows.
        fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.concat([Buffer.from("X"), Buffer.from(b), Buffer.from("\r\n\r\n")])),
        fc.constantFrom(
          "GET /v2/ HTTP/1.0\r\n\r\n",
          "GET  HTTP/1.1\r\nHost: x\r\n\r\n",
          "PATCH /v2/a/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
          "PUT /v2/a/manifests/t HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
          "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
          "GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
          `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20000)}\r\n\r\n`,
          "GET /v2/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue-please\r\n\r\n",
          "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n",
          "GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\n",
          "BREW /v2/ HTTP/1.1\r\nHost: x\r\n\r\n",
          "GET http://evil/v2/a/../b/tags/list HTTP/1.1\r\nHost: x\r\n\r\n",
          "GET /v2/a/tags/list?%%% HTTP/1.1\r\nHost: x\r\n\r\n",
        ).map((text) => Buffer.from(text, "latin1")),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("slow" as const), name: fc.constant("$repo") }) },
);

// ---------------------------------------------------------------- turning shapes into requests

function resolveName(name: string, world: World): string {
  return name === "$repo" ? world.repo : name === "$other" ? world.otherRepo : name;
}

function resolveDigest(digest: string, world: World): string {
  if (digest === "$manifest") return world.manifestDigest;
  const blob = /^\$blob(\d)$/.exec(digest);
  return blob ? world.blobs[Number(blob[1])]! : digest;
}

function framed(body: Body): { headers: [string, string][]; bytes: Buffer } {
  const bytes = Buffer.from(body.bytes);
  switch (body.framing) {
    case "length":
      return { headers: [["Content-Length", String(bytes.length)]], bytes };
    case "chunked":
      return { headers: [["Transfer-Encoding", "chunked"]], bytes: chunked(bytes, body.pieces) };
    case "length-short":
      // Declares more than it sends, then closes its side: the server sees a broken body.
      return { headers: [["Content-Length", String(bytes.length + 10)]], bytes };
    case "length-long":
      return { headers: [["Content-Length", String(Math.max(0, bytes.length - 1))]], bytes };
    case "none":
      return { headers: [], bytes: Buffer.alloc(0) };
  }
}

const sha256 = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

function manifestBody(variant: ManifestVariant, world: World): Buffer {
  const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: world.blobs[1], size: world.blobSizes[1] };
  const config = { mediaType: "application/vnd.oci.image.config.v1+json", digest: world.blobs[0], size: world.blobSizes[0] };
  switch (variant) {
    case "valid":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] }));
    case "bad-json":
      return Buffer.from('{"schemaVersion": 2, "layers": [');
    case "duplicate-keys":
      return Buffer.from(`{"schemaVersion":2,"mediaType":"${OCI_MANIFEST}","config":${JSON.stringify(config)},"layers":[{"mediaType":"x","digest":"sha256:${"0".repeat(64)}","size":1}],"layers":[${JSON.stringify(layer)}]}`);
    case "huge":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [layer], annotations: { pad: "p".repeat(LIMITS.maxManifestBytes) } }));
    case "wrong-type":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.example+json", config, layers: [layer] }));
    case "missing-blob":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, digest: `sha256:${"1".repeat(64)}` }] }));
    case "wrong-size":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...layer, size: 1 + (layer.size ?? 0) }] }));
    case "not-object":
      return Buffer.from("[1,2,3]");
    case "index-missing":
      return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: OCI_MANIFEST, digest: `sha256:${"2".repeat(64)}`, size: 10 }] }));
  }
}

/** The request of a shape, given the world as it stands. */
function requestOf(shape: Shape, world: World): RawRequest {
  switch (shape.kind) {
    case "blob": {
      const headers: [string, string][] = shape.range === undefined ? [] : [["Range", shape.range.replace(/[\r\n]/g, "")]];
      return { method: shape.method, target: `/v2/${resolveName(shape.name, world)}/blobs/${resolveDigest(shape.digest, world)}`, headers };
    }
    case "start": {
      const name = resolveName(shape.name, world);
      const body = framed(shape.body);
      const query = {
        none: "",
        "digest-right": `?digest=${sha256(shape.body.bytes)}`,
        "digest-wrong": `?digest=sha256:${"3".repeat(64)}`,
        "digest-bad": "?digest=sha256:nothex",
        mount: `?mount=${world.blobs[1]}&from=${world.repo}`,
        "mount-missing": `?mount=sha256:${"4".repeat(64)}&from=${world.otherRepo}`,
      }[shape.query];
      return { method: "POST", target: `/v2/${name}/blobs/uploads/${query}`, headers: body.headers, body: body.bytes };
    }
    case "upload": {
      const name = resolveName(shape.name, world);
      const session =
        shape.session === "current" && world.upload !== undefined ? world.upload.split("/").pop()! : shape.session === "garbage" ? "..%2F..%2Fetc" : randomUUID();
      const body = framed(shape.body);
      const headers = [...body.headers];
      const range = shape.range;
      const at = world.uploadOffset;
      if (range === "right") headers.push(["Content-Range", `${at}-${at + Math.max(0, shape.body.bytes.length - 1)}`]);
      else if (Array.isArray(range)) headers.push(["Content-Range", `${Math.max(0, at + range[0])}-${Math.max(0, at + shape.body.bytes.length - 1 + range[1])}`]);
      else if (range !== "none") headers.push(["Content-Range", range]);
      const digest = { right: `?digest=${sha256(shape.body.bytes)}`, wrong: `?digest=sha256:${"5".repeat(64)}`, none: "", bad: "?digest=zz" }[shape.digest];
      return { method: shape.method, target: `/v2/${name}/blobs/uploads/${session}${shape.method === "PUT" ? digest : ""}`, headers, body: body.bytes };
    }
    case "manifest-put": {
      const bytes = manifestBody(shape.variant, world);
      const reference = resolveDigest(shape.reference, world);
      const headers: [string, string][] = shape.contentType === "" ? [] : [["Content-Type", shape.contentType]];
      if (shape.framing === "chunked") headers.push(["Transfer-Encoding", "chunked"]);
      else headers.push(["Content-Length", String(bytes.length)]);
      return { method: "PUT", target: `/v2/${resolveName(shape.name, world)}/manifests/${reference}`, headers, body: shape.framing === "chunked" ? chunked(bytes, 3) : bytes };
    }
    case "manifest": {
      const headers: [string, string][] = shape.accept === undefined ? [] : [["Accept", shape.accept]];
      return { method: shape.method, target: `/v2/${resolveName(shape.name, world)}/manifests/${resolveDigest(shape.reference, world)}`, headers };
    }
    case "list": {
      const query = shape.query === undefined ? "" : `?${shape.query}`;
      const name = resolveName(shape.name, world);
      const target = shape.what === "catalog" ? `/v2/_catalog${query}` : shape.what === "tags" ? `/v2/${name}/tags/list${query}` : `/v2/${name}/referrers/${resolveDigest(shape.digest, world)}${query}`;
      return { method: "GET", target };
    }
    case "raw":
      return { raw: shape.bytes };
    case "slow": {
      // A body far below the minimum rate: a few bytes, then silence.
      const target = world.upload ?? `/v2/${world.repo}/blobs/uploads/${randomUUID()}`;
      return { method: "PATCH", target, headers: [["Content-Length", "100000"]], body: Buffer.alloc(20), pieceSize: 10, pauseMs: 50 };
    }
  }
}

// ---------------------------------------------------------------- what must hold

/** What a refused request must not change: the registry's records, the recipes, upload progress. */
async function snapshot(store: Store): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for await (const [key, value] of store.scanMeta("registry/")) {
    if (key.startsWith("registry/upload/")) {
      const record = JSON.parse(value.toString()) as { offset: number; revision: string };
      state.set(key, `${record.offset}/${record.revision}`);
    } else {
      state.set(key, createHash("sha256").update(value).digest("hex"));
    }
  }
  for await (const recipe of store.scanRecipes()) state.set(`recipe:${recipe.digest}`, String(recipe.size));
  return state;
}

/** Nothing appeared or changed; a refused request may only end an upload (a digest mismatch does). */
function assertNothingStored(before: Map<string, string>, after: Map<string, string>, what: string): void {
  for (const [key, value] of after) {
    assert.equal(before.get(key), value, `${what}: a refused request stored ${key}`);
  }
}

function checkAnswer(response: RawResponse | undefined, request: RawRequest, what: string): void {
  if (response === undefined) {
    // Only raw bytes and slow or broken bodies may get no answer: the connection was cut.
    return;
  }
  assert.ok(response.status >= 100 && response.status < 500, `${what}: answered ${response.status}: ${response.body.toString().slice(0, 300)}`);
  if (response.status < 400 || request.method === "HEAD") return;
  assert.match(response.headers["content-type"] ?? "", /^application\/json/, `${what}: error ${response.status} without a JSON body`);
  const body = JSON.parse(response.body.toString()) as { errors?: { code?: string; message?: string }[] };
  const code = body.errors?.[0]?.code;
  assert.ok(code !== undefined && SPEC_CODES.has(code), `${what}: error code ${code} is not one of the spec's`);
  assert.doesNotMatch(body.errors?.[0]?.message ?? "", /\n\s+at /, `${what}: a stack trace in the answer`);
}

async function alive(port: number): Promise<void> {
  const res = await exchange(port, { method: "GET", target: "/v2/" }, 10_000);
  assert.equal(res?.status, 200, "the server no longer answers GET /v2/");
}

// ---------------------------------------------------------------- the suite

async function makeWorld(t: { after(fn: () => unknown): void }): Promise<{ world: World; registry: TestRegistry }> {
  const registry = await startRegistry(t, { limits: LIMITS });
  const { port } = registry.server.server.address() as AddressInfo;
  const image = await makeImage(registry.url, "fuzz/base", { layers: [Buffer.from("layer one of the fuzz world"), Buffer.alloc(3000, 7)] });
  const res = await fetch(`${registry.url}/v2/fuzz/base/manifests/latest`, { method: "PUT", body: image.manifest, headers: { "Content-Type": OCI_MANIFEST } });
  assert.equal(res.status, 201);
  const sizes = [0, 0, 0];
  for (const [i, digest] of image.blobs.entries()) {
    const head = await fetch(`${registry.url}/v2/fuzz/base/blobs/${digest}`, { method: "HEAD" });
    sizes[i] = Number(head.headers.get("content-length"));
  }
  return { registry, world: { port, repo: "fuzz/base", otherRepo: "fuzz/other", blobs: image.blobs, blobSizes: sizes, manifest: image.manifest, manifestDigest: image.digest, uploadOffset: 0 } };
}

test(`hostile requests (${RUNS} cases, seed ${SEED}): the server stays up, answers with spec errors, stores nothing it refuses`, { timeout: Math.max(600_000, RUNS * 1000) }, async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  t.after(() => process.off("unhandledRejection", onUnhandled));
  const { world, registry } = await makeWorld(t);
  const stats = { requests: 0, refused: 0, cut: 0, byStatus: new Map<number, number>(), msByKind: new Map<string, number>() };

  await fc.assert(
    fc.asyncProperty(fc.array(shapeArb, { minLength: 1, maxLength: 6 }), async (shapes) => {
      world.upload = undefined;
      world.uploadOffset = 0;
      for (const [i, shape] of shapes.entries()) {
        const request = requestOf(shape, world);
        const what = `step ${i} ${shape.kind} ${request.method ?? "raw"} ${request.target?.slice(0, 120) ?? ""}`;
        const before = await snapshot(registry.store);
        const started = Date.now();
        const response = await exchange(world.port, request, 20_000);
        stats.msByKind.set(shape.kind, (stats.msByKind.get(shape.kind) ?? 0) + Date.now() - started);
        stats.requests++;
        if (response === undefined) stats.cut++;
        else stats.byStatus.set(response.status, (stats.byStatus.get(response.status) ?? 0) + 1);
        checkAnswer(response, request, what);
        if (response === undefined || response.status >= 400) {
          stats.refused++;
          assertNothingStored(before, await snapshot(registry.store), what);
        }
        const location = response?.headers.location;
        if (response?.status === 202 && location?.includes("/blobs/uploads/")) {
          world.upload = location;
          const last = Number(/^0-(\d+)$/.exec(response.headers.range ?? "")?.[1] ?? 0);
          world.uploadOffset = last === 0 ? 0 : last + 1;
        }
      }
      await alive(world.port);
      // The next case starts with no sessions open, so that the per-client cap is not what every later push meets.
      const open: string[] = [];
      for await (const [key] of registry.store.scanMeta("registry/upload/")) open.push(key);
      for (const key of open) await registry.store.deleteMeta(key);
      assert.deepEqual(registry.logs.filter((line) => line.startsWith("bug:")), [], "a request failed outside its error handling");
      assert.deepEqual(unhandled, [], "an unhandled promise rejection");
    }),
    { numRuns: RUNS, seed: SEED, includeErrorInReport: true },
  );

  const report = await registry.blobs.verify();
  assert.deepEqual(report.damage, [], "verify after the fuzz run");
  t.diagnostic(`requests ${stats.requests}, refused ${stats.refused}, cut without an answer ${stats.cut}; by status ${JSON.stringify(Object.fromEntries([...stats.byStatus].sort((a, b) => a[0] - b[0])))}; ms by kind ${JSON.stringify(Object.fromEntries(stats.msByKind))}`);
});
