import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { randomBytes } from "../helpers.js";
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, asBody, sha256, startRegistry } from "../registry/harness.js";
import { startReferenceRegistry } from "./reference-registry.js";

/**
 * Differential test: one request sequence against docker-dedup and against Debian's
 * docker-registry (CNCF distribution 2.8.2), comparing statuses, error codes, key headers and
 * body digests step by step. Where we differ on purpose, KNOWN_DIFFERENCES pins both answers
 * and says why, so a change on either side shows up here.
 */

interface Observation {
  status: number;
  /** The first error code of a JSON error body. */
  code?: string;
  headers: Record<string, string | null>;
  /** A body worth comparing: the sha256 of blobs and manifests, listings as parsed JSON. */
  body?: unknown;
}

type Expected = Partial<Observation>;

const KNOWN_DIFFERENCES: Record<string, { why: string; ours: Expected; reference: Expected }> = {
  "POST a monolithic blob (?digest= with body)": {
    why: "distribution 2.8 ignores ?digest= on POST and opens a session (the spec lets a registry do that); we store the blob at once",
    ours: { status: 201 },
    reference: { status: 202 },
  },
  "GET blob in an invalid (uppercase) repository name": {
    why: "distribution's router does not match the path (plain-text 404); we answer the spec's NAME_INVALID",
    ours: { status: 400, code: "NAME_INVALID" },
    reference: { status: 404 },
  },
  "GET an OCI manifest without Accept": {
    why: "distribution 2.8 hides OCI manifests from clients that do not list the OCI type; we cannot convert, so we serve the stored form",
    ours: { status: 200 },
    reference: { status: 404, code: "MANIFEST_UNKNOWN" },
  },
  "GET referrers": {
    why: "distribution 2.8 predates OCI 1.1 and has no referrers API",
    ours: { status: 200 },
    reference: { status: 404 },
  },
  "GET blob range past the end": {
    why: "both answer 416 with Content-Range bytes */size; distribution 2.8 sends a short plain-text body under a Content-Length of the whole blob, which cuts the connection",
    ours: { status: 416, code: "SIZE_INVALID" },
    reference: { status: 416, code: "<body cut off>" },
  },
  "GET tags list": {
    why: "distribution 2.8 lists tags in directory order; the spec asks for lexical order",
    ours: { status: 200, body: { name: "diff/app", tags: ["multi", "oci"] } },
    reference: { status: 200, body: { name: "diff/app", tags: ["oci", "multi"] } },
  },
  "GET tags list n=1": {
    why: "distribution 2.8 ignores n on tag lists (pagination came in distribution 3); the spec pages with a Link",
    ours: { status: 200, headers: { link: '</v2/diff/app/tags/list?n=1&last=multi>; rel="next"' }, body: { name: "diff/app", tags: ["multi"] } },
    reference: { status: 200, headers: { link: null }, body: { name: "diff/app", tags: ["oci", "multi"] } },
  },
  "PATCH a chunk out of order": {
    why: "distribution 2.8 appends an out-of-order chunk as if it were next; the spec requires 416",
    ours: { status: 416, code: "BLOB_UPLOAD_INVALID" },
    reference: { status: 202 },
  },
  "GET an unknown upload": {
    why: "distribution 2.8 says BLOB_UPLOAD_INVALID when its _state parameter is missing; the spec's code for an unknown session is BLOB_UPLOAD_UNKNOWN",
    ours: { status: 404, code: "BLOB_UPLOAD_UNKNOWN" },
    reference: { status: 404, code: "BLOB_UPLOAD_INVALID" },
  },
};

async function scenario(base: string): Promise<Map<string, Observation>> {
  const seen = new Map<string, Observation>();
  const observe = async (step: string, res: Response, headerNames: string[] = [], keepBody: false | "digest" | "json" = false): Promise<Observation> => {
    const observation: Observation = { status: res.status, headers: {} };
    let bytes: Buffer;
    try {
      bytes = Buffer.from(await res.arrayBuffer());
    } catch {
      bytes = Buffer.alloc(0);
      observation.code = "<body cut off>";
    }
    if (observation.code === undefined && (res.headers.get("content-type") ?? "").startsWith("application/json") && res.status >= 400) {
      try {
        observation.code = (JSON.parse(bytes.toString()) as { errors: { code: string }[] }).errors[0]?.code;
      } catch {
        observation.code = "<not json>";
      }
    }
    for (const name of headerNames) observation.headers[name] = normalizeHeader(name, res.headers.get(name));
    if (keepBody === "digest") observation.body = createHash("sha256").update(bytes).digest("hex");
    if (keepBody === "json" && res.ok) observation.body = JSON.parse(bytes.toString());
    assert.ok(!seen.has(step), `step names are unique: ${step}`);
    seen.set(step, observation);
    return observation;
  };
  const go = (path: string, init: RequestInit = {}) => fetch(path.startsWith("http") ? path : `${base}${path}`, init);
  const repo = "diff/app";
  const other = "diff/other";

  await observe("GET /v2/", await go("/v2/"), ["docker-distribution-api-version"]);

  // Blobs
  const blob = randomBytes(300_000, 41);
  const blobDigest = sha256(blob);
  const single = randomBytes(1000, 40);
  await observe("POST a monolithic blob (?digest= with body)", await go(`/v2/${repo}/blobs/uploads/?digest=${sha256(single)}`, { method: "POST", body: asBody(single), headers: OCTETS }));
  // The portable way, which every registry supports: POST, then PUT with the whole body.
  let res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await observe("PUT a whole blob into a new session", await go(withDigest(res.headers.get("location")!, blobDigest), { method: "PUT", body: asBody(blob), headers: OCTETS }), ["location", "docker-content-digest"]);
  await observe("HEAD blob", await go(`/v2/${repo}/blobs/${blobDigest}`, { method: "HEAD" }), ["content-length", "docker-content-digest"]);
  await observe("GET blob", await go(`/v2/${repo}/blobs/${blobDigest}`), ["content-length", "docker-content-digest"], "digest");
  await observe("GET blob range", await go(`/v2/${repo}/blobs/${blobDigest}`, { headers: { Range: "bytes=100-199" } }), ["content-range", "content-length"], "digest");
  await observe("GET blob range past the end", await go(`/v2/${repo}/blobs/${blobDigest}`, { headers: { Range: `bytes=${blob.length}-` } }), ["content-range"]);
  await observe("GET blob from a repository that never had it", await go(`/v2/${other}/blobs/${blobDigest}`));
  await observe("GET unknown blob", await go(`/v2/${repo}/blobs/${sha256("unknown")}`));
  await observe("GET blob with a malformed digest", await go(`/v2/${repo}/blobs/sha256:abc`));
  await observe("GET blob in an invalid (uppercase) repository name", await go(`/v2/Diff/App/blobs/${blobDigest}`));

  // Upload sessions
  res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  let location = res.headers.get("location")!;
  await observe("POST start an upload", res, ["range", "location"]);
  await observe("GET upload status", await go(location), ["range"]);
  const part1 = randomBytes(70_000, 42);
  const part2 = randomBytes(30_000, 43);
  res = await go(location, { method: "PATCH", body: asBody(part1), headers: { "Content-Type": "application/octet-stream" } });
  location = res.headers.get("location")!;
  await observe("PATCH a streamed chunk", res, ["range"]);
  const chunked = sha256(Buffer.concat([part1, part2]));
  await observe("PUT the last chunk with ?digest=", await go(withDigest(location, chunked), { method: "PUT", body: asBody(part2), headers: OCTETS }), ["location", "docker-content-digest"]);
  await observe("GET the chunked blob", await go(`/v2/${repo}/blobs/${chunked}`), ["content-length"], "digest");

  res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  location = res.headers.get("location")!;
  res = await go(location, { method: "PATCH", body: asBody(part1), headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${part1.length - 1}` } });
  await observe("PATCH a chunk with Content-Range", res, ["range"]);
  res = await go(res.headers.get("location")!, { method: "PATCH", body: asBody(part2), headers: { "Content-Type": "application/octet-stream", "Content-Range": `0-${part2.length - 1}` } });
  await observe("PATCH a chunk out of order", res, ["range"]);

  res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  location = res.headers.get("location")!;
  res = await go(location, { method: "PATCH", body: "some bytes", headers: { "Content-Type": "application/octet-stream" } });
  location = res.headers.get("location")!;
  await observe("PUT with a wrong digest", await go(withDigest(location, sha256("other bytes")), { method: "PUT" }));
  await observe("GET an unknown upload", await go(`/v2/${repo}/blobs/uploads/${randomUUID()}`));

  res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  location = res.headers.get("location")!;
  await observe("DELETE an upload", await go(location, { method: "DELETE" }));
  await observe("GET a cancelled upload", await go(location));

  // Mounts
  await observe("POST mount from a repository that has the blob", await go(`/v2/${other}/blobs/uploads/?mount=${blobDigest}&from=${repo}`, { method: "POST" }), ["location", "docker-content-digest"]);
  await observe("GET the mounted blob", await go(`/v2/${other}/blobs/${blobDigest}`), [], "digest");
  await observe("POST mount without from", await go(`/v2/diff/third/blobs/uploads/?mount=${blobDigest}`, { method: "POST" }), ["location"]);

  // Manifests
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const configDigest = sha256(config);
  res = await go(`/v2/${repo}/blobs/uploads/`, { method: "POST" });
  assert.equal((await go(withDigest(res.headers.get("location")!, configDigest), { method: "PUT", body: asBody(config), headers: OCTETS })).status, 201);
  const layers = [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: blobDigest, size: blob.length }];
  const oci = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length }, layers }, null, 2);
  const put = (ref: string, body: string, type: string) => go(`/v2/${repo}/manifests/${ref}`, { method: "PUT", body, headers: { "Content-Type": type } });
  await observe("PUT an OCI manifest by tag", await put("oci", oci, OCI_MANIFEST), ["location", "docker-content-digest"]);
  await observe("GET the OCI manifest by tag", await go(`/v2/${repo}/manifests/oci`, { headers: { Accept: OCI_MANIFEST } }), ["content-type", "docker-content-digest", "content-length"], "digest");
  await observe("HEAD the OCI manifest by digest", await go(`/v2/${repo}/manifests/${sha256(oci)}`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } }), ["content-type", "docker-content-digest", "content-length"]);
  await observe("GET an OCI manifest without Accept", await go(`/v2/${repo}/manifests/oci`));
  await observe("GET the OCI manifest from another repository", await go(`/v2/${other}/manifests/${sha256(oci)}`, { headers: { Accept: OCI_MANIFEST } }));

  const docker = JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: "application/vnd.docker.container.image.v1+json", digest: configDigest, size: config.length },
    layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar", digest: blobDigest, size: blob.length }],
  });
  await observe("PUT a Docker schema2 manifest by digest", await put(sha256(docker), docker, DOCKER_MANIFEST), ["location", "docker-content-digest"]);
  await observe("GET the Docker manifest", await go(`/v2/${repo}/manifests/${sha256(docker)}`, { headers: { Accept: DOCKER_MANIFEST } }), ["content-type", "docker-content-digest"], "digest");

  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(oci), size: Buffer.byteLength(oci), platform: { architecture: "amd64", os: "linux" } }] });
  await observe("PUT an OCI index", await put("multi", index, OCI_INDEX), ["docker-content-digest"]);
  await observe("GET the OCI index", await go(`/v2/${repo}/manifests/multi`, { headers: { Accept: OCI_INDEX } }), ["content-type", "docker-content-digest"], "digest");
  const orphanIndex = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256("no manifest"), size: 11 }] });
  await observe("PUT an OCI index whose child is missing", await put("orphan", orphanIndex, OCI_INDEX));

  const missing = JSON.stringify({ ...JSON.parse(oci), layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256("absent"), size: 6 }] });
  await observe("PUT a manifest with a missing blob", await put("missing", missing, OCI_MANIFEST));
  await observe("PUT a manifest that is not JSON", await put("garbage", "not json", OCI_MANIFEST));
  await observe("PUT a manifest under a digest it does not have", await put(sha256("something else"), oci, OCI_MANIFEST));
  await observe("GET an unknown tag", await go(`/v2/${repo}/manifests/nope`, { headers: { Accept: OCI_MANIFEST } }));
  await observe("GET referrers", await go(`/v2/${repo}/referrers/${sha256(oci)}`));

  // Listings
  await observe("GET tags list", await go(`/v2/${repo}/tags/list`), [], "json");
  await observe("GET tags list n=1", await go(`/v2/${repo}/tags/list?n=1`), ["link"], "json");
  await observe("GET tags list of an unknown repository", await go(`/v2/diff/nothing/tags/list`));
  await observe("GET catalog", await go(`/v2/_catalog`), [], "json");

  // Deletes
  await observe("DELETE the Docker manifest by digest", await go(`/v2/${repo}/manifests/${sha256(docker)}`, { method: "DELETE" }));
  await observe("GET the deleted manifest", await go(`/v2/${repo}/manifests/${sha256(docker)}`, { headers: { Accept: DOCKER_MANIFEST } }));
  await observe("DELETE an unknown manifest", await go(`/v2/${repo}/manifests/${sha256("never")}`, { method: "DELETE" }));
  await observe("DELETE the mounted blob", await go(`/v2/${other}/blobs/${blobDigest}`, { method: "DELETE" }));
  await observe("GET the deleted blob", await go(`/v2/${other}/blobs/${blobDigest}`));
  await observe("GET the blob in the repository that keeps it", await go(`/v2/${repo}/blobs/${blobDigest}`, { method: "HEAD" }));
  await observe("DELETE an unknown blob", await go(`/v2/${repo}/blobs/${sha256("never")}`, { method: "DELETE" }));
  return seen;
}

const OCTETS = { "Content-Type": "application/octet-stream" };

/** An upload Location with `digest` added to its query (distribution's carries `_state`). */
function withDigest(location: string, digest: string): string {
  return `${location}${location.includes("?") ? "&" : "?"}digest=${digest}`;
}

/** Headers compared by meaning: Locations by path, with upload ids and distribution's `_state` masked. */
function normalizeHeader(name: string, value: string | null): string | null {
  if (value === null) return null;
  if (name === "location") {
    const path = value.replace(/^https?:\/\/[^/]+/, "").split("?")[0]!;
    return path.replace(/\/uploads\/[0-9a-f-]{36}$/, "/uploads/<id>");
  }
  if (name === "link") return value.replace(/^<https?:\/\/[^/]+/, "<");
  return value;
}

test("differential: docker-dedup answers as CNCF distribution 2.8.2 does, except where the spec says otherwise", { timeout: 120_000 }, async (t) => {
  const ours = await startRegistry(t);
  const reference = await startReferenceRegistry(t);
  const mine = await scenario(ours.url);
  const theirs = await scenario(reference.url);
  assert.deepEqual([...mine.keys()], [...theirs.keys()]);
  const mismatches: string[] = [];
  for (const [step, observed] of mine) {
    const expected = theirs.get(step)!;
    const known = KNOWN_DIFFERENCES[step];
    const agrees =
      known === undefined
        ? isDeepStrictEqual(observed, expected)
        : isDeepStrictEqual(pick(observed, known.ours), known.ours) && isDeepStrictEqual(pick(expected, known.reference), known.reference);
    if (!agrees) {
      const note = known === undefined ? "" : `  (known difference expected: ours ${JSON.stringify(known.ours)}, reference ${JSON.stringify(known.reference)})`;
      mismatches.push(`${step}${note}\n  ours:      ${JSON.stringify(observed)}\n  reference: ${JSON.stringify(expected)}`);
    }
  }
  assert.deepEqual(mismatches, [], `\n${mismatches.join("\n")}`);
  assert.deepEqual(ours.logs, []);
});

function pick(observation: Observation, shape: Expected): Expected {
  const out: Expected = {};
  for (const key of Object.keys(shape) as (keyof Observation)[]) (out as Record<string, unknown>)[key] = observation[key];
  return out;
}
