import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRangeHeader, parseUploadRange } from "../../src/registry/http-range.js";
import { acceptsManifest } from "../../src/registry/manifest-format.js";
import { isValidRepositoryName, isValidTag, parseReference } from "../../src/registry/names.js";
import { RegistryError, toRegistryError } from "../../src/registry/oci-errors.js";
import { matchRoute } from "../../src/registry/routes.js";
import { DedupError } from "../../src/errors.js";

test("routes: names with slashes, every endpoint, and encoded parts decoded after matching", () => {
  const d = `sha256:${"a".repeat(64)}`;
  assert.deepEqual(matchRoute("/v2/"), { kind: "base" });
  assert.deepEqual(matchRoute("/v2/_catalog"), { kind: "catalog" });
  assert.deepEqual(matchRoute(`/v2/a/b/c/blobs/${d}`), { kind: "blob", name: "a/b/c", digest: d });
  assert.deepEqual(matchRoute("/v2/a/blobs/uploads/"), { kind: "uploads", name: "a" });
  assert.deepEqual(matchRoute("/v2/a/blobs/uploads"), { kind: "uploads", name: "a" });
  assert.deepEqual(matchRoute("/v2/a/blobs/uploads/123"), { kind: "upload", name: "a", id: "123" });
  assert.deepEqual(matchRoute("/v2/x/blobs/blobs/y"), { kind: "blob", name: "x/blobs", digest: "y" });
  assert.deepEqual(matchRoute("/v2/a/manifests/latest"), { kind: "manifest", name: "a", reference: "latest" });
  assert.deepEqual(matchRoute("/v2/a/manifests/tags/list"), { kind: "tags", name: "a/manifests" });
  assert.deepEqual(matchRoute(`/v2/a/referrers/${d}`), { kind: "referrers", name: "a", digest: d });
  assert.deepEqual(matchRoute(`/v2/a/manifests/sha256%3A${"a".repeat(64)}`), { kind: "manifest", name: "a", reference: d });
  assert.deepEqual(matchRoute("/v2/a%2F..%2Fb/tags/list"), { kind: "tags", name: "a/../b" });
  assert.equal(matchRoute("/v2/a%zz/tags/list"), "invalid");
  assert.equal(matchRoute("/v2/a"), undefined);
  assert.equal(matchRoute("/other"), undefined);
});

test("names and tags follow the spec's grammar", () => {
  for (const ok of ["a", "a/b", "a.b/c_d/e__f/g-h/i---j", "0/1", "x".repeat(255)]) assert.ok(isValidRepositoryName(ok), ok);
  for (const bad of ["", "A", "a/", "/a", "a//b", "a/../b", "..", ".a", "a.", "a_", "a___b", "a b", "a:b", "a@b", "x".repeat(256)]) {
    assert.ok(!isValidRepositoryName(bad), bad);
  }
  for (const ok of ["latest", "V1.2_3-rc", "_x", "x".repeat(128)]) assert.ok(isValidTag(ok), ok);
  for (const bad of ["", ".x", "-x", "x".repeat(129), "a/b", "a:b"]) assert.ok(!isValidTag(bad), bad);
  assert.deepEqual(parseReference("latest", false), { kind: "tag", tag: "latest" });
  assert.throws(() => parseReference(".bad", false), (e: RegistryError) => e.code === "MANIFEST_UNKNOWN" && e.status === 404);
  assert.throws(() => parseReference(".bad", true), (e: RegistryError) => e.code === "MANIFEST_INVALID" && e.status === 400);
  assert.throws(() => parseReference("sha256:zz", false), (e: RegistryError) => e.code === "DIGEST_INVALID");
});

test("Range headers: parts, suffixes, clamping, unsatisfiable and ignorable forms", () => {
  assert.deepEqual(parseRangeHeader(undefined, 10), { kind: "whole" });
  assert.deepEqual(parseRangeHeader("bytes=0-4", 10), { kind: "part", range: { start: 0, end: 4 } });
  assert.deepEqual(parseRangeHeader("bytes=5-", 10), { kind: "part", range: { start: 5, end: 9 } });
  assert.deepEqual(parseRangeHeader("bytes=-3", 10), { kind: "part", range: { start: 7, end: 9 } });
  assert.deepEqual(parseRangeHeader("bytes=-30", 10), { kind: "part", range: { start: 0, end: 9 } });
  assert.deepEqual(parseRangeHeader("bytes=8-100", 10), { kind: "part", range: { start: 8, end: 9 } });
  assert.deepEqual(parseRangeHeader("bytes=10-", 10), { kind: "unsatisfiable" });
  assert.deepEqual(parseRangeHeader("bytes=-0", 10), { kind: "unsatisfiable" });
  assert.deepEqual(parseRangeHeader("bytes=0-0", 0), { kind: "unsatisfiable" });
  for (const ignored of ["bytes=5-2", "bytes=0-1,3-4", "lines=1-2", "bytes=-", "garbage"]) assert.deepEqual(parseRangeHeader(ignored, 10), { kind: "whole" }, ignored);
  assert.deepEqual(parseUploadRange("0-99"), { start: 0, end: 99 });
  assert.deepEqual(parseUploadRange("bytes 100-199/*"), { start: 100, end: 199 });
  assert.equal(parseUploadRange("9-3"), undefined);
  assert.equal(parseUploadRange("abc"), undefined);
});

test("Accept: served unless only other manifest types are listed", () => {
  const oci = "application/vnd.oci.image.manifest.v1+json";
  const docker = "application/vnd.docker.distribution.manifest.v2+json";
  assert.ok(acceptsManifest(undefined, oci));
  assert.ok(acceptsManifest(`${docker}, ${oci}; q=0.5`, oci));
  assert.ok(acceptsManifest("*/*", oci));
  assert.ok(acceptsManifest("application/json", oci));
  assert.ok(!acceptsManifest(docker, oci));
  assert.ok(!acceptsManifest("application/vnd.docker.distribution.manifest.v1+prettyjws", oci));
});

test("every domain error maps to an OCI answer, and server faults hide their details", () => {
  assert.equal(toRegistryError(new DedupError("DIGEST_MISMATCH", "x", { expected: "a" })).code, "DIGEST_INVALID");
  assert.equal(toRegistryError(new DedupError("RANGE_INVALID", "x")).status, 416);
  const fault = toRegistryError(new DedupError("CHUNK_MISSING", "chunk abc of /secret/path is missing", { chunk: "abc" }));
  assert.equal(fault.status, 500);
  assert.doesNotMatch(fault.message, /secret/);
  assert.deepEqual(fault.detail, {});
  assert.equal(toRegistryError(new DedupError("STORE_UNAVAILABLE", "x")).status, 503);
  const unknown = toRegistryError(new TypeError("undefined is not a function"));
  assert.equal(unknown.code, "UNKNOWN");
  assert.equal(unknown.message, "internal server error");
});
