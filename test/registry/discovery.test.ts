import assert from "node:assert/strict";
import { test } from "node:test";
import { OCI_INDEX, OCI_MANIFEST, expectError, makeImage, pushBlob, pushManifest, sha256, startRegistry } from "./harness.js";

test("tags list: lexical order, n/last pagination and a Link to the next page", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "paged");
  const tags = ["v1", "latest", "V2", "a-b", "a.b", "a_b", "0.9"];
  for (const tag of tags) assert.equal((await pushManifest(url, "paged", tag, image.manifest, OCI_MANIFEST)).status, 201);
  const sorted = [...tags].sort(); // byte order, as the spec asks

  let res = await fetch(`${url}/v2/paged/tags/list`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("link"), null);
  assert.deepEqual(await res.json(), { name: "paged", tags: sorted });

  const seen: string[] = [];
  let next: string | null = "/v2/paged/tags/list?n=3";
  let pages = 0;
  while (next !== null) {
    res = await fetch(`${url}${next}`);
    const body = (await res.json()) as { tags: string[] };
    assert.ok(body.tags.length <= 3);
    seen.push(...body.tags);
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.get("link") ?? "")?.[1] ?? null;
    pages++;
  }
  assert.deepEqual(seen, sorted);
  assert.equal(pages, 3);

  res = await fetch(`${url}/v2/paged/tags/list?n=2&last=${sorted[4]}`);
  assert.deepEqual(((await res.json()) as { tags: string[] }).tags, sorted.slice(5, 7));
  res = await fetch(`${url}/v2/paged/tags/list?n=0`);
  assert.deepEqual(((await res.json()) as { tags: string[] }).tags, []);
  await expectError(await fetch(`${url}/v2/paged/tags/list?n=-1`), 400, "UNSUPPORTED");
  await expectError(await fetch(`${url}/v2/never/pushed/tags/list`), 404, "NAME_UNKNOWN");
});

test("tags of one repository never show up in another whose name extends it", async (t) => {
  const { url } = await startRegistry(t);
  const a = await makeImage(url, "app");
  const b = await makeImage(url, "app/tag");
  await pushManifest(url, "app", "one", a.manifest, OCI_MANIFEST);
  await pushManifest(url, "app/tag", "two", b.manifest, OCI_MANIFEST);
  assert.deepEqual(((await (await fetch(`${url}/v2/app/tags/list`)).json()) as { tags: string[] }).tags, ["one"]);
  assert.deepEqual(((await (await fetch(`${url}/v2/app/tag/tags/list`)).json()) as { tags: string[] }).tags, ["two"]);
});

test("catalog: every repository, in order, with n/last pagination", async (t) => {
  const { url } = await startRegistry(t);
  const names = ["zeta", "alpha/one", "alpha", "mid/dle/name", "alpha/two"];
  for (const name of names) await pushBlob(url, name, Buffer.from(name));
  let res = await fetch(`${url}/v2/_catalog`);
  assert.deepEqual(await res.json(), { repositories: [...names].sort() });
  res = await fetch(`${url}/v2/_catalog?n=2`);
  assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, ["alpha", "alpha/one"]);
  assert.equal(res.headers.get("link"), '</v2/_catalog?n=2&last=alpha%2Fone>; rel="next"');
  res = await fetch(`${url}/v2/_catalog?n=2&last=alpha%2Fone`);
  assert.deepEqual(((await res.json()) as { repositories: string[] }).repositories, ["alpha/two", "mid/dle/name"]);
});

test("referrers: subject header on push, listing with annotations, artifactType filter, removal on delete", async (t) => {
  const { url, logs } = await startRegistry(t);
  const subject = await makeImage(url, "refs");
  const emptyConfig = Buffer.from("{}");
  await pushBlob(url, "refs", emptyConfig);
  const signature = Buffer.from("a signature");
  await pushBlob(url, "refs", signature);
  const subjectDescriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.manifest) };
  const artifact = (artifactType: string, note: string) =>
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256(emptyConfig), size: 2 },
      layers: [{ mediaType: "application/octet-stream", digest: sha256(signature), size: signature.length }],
      subject: subjectDescriptor,
      annotations: { note },
    });
  const sig = artifact("application/vnd.example.signature", "sig");
  const sbom = artifact("application/vnd.example.sbom", "sbom");
  // The subject need not exist yet (OCI 1.1).
  for (const body of [sig, sbom]) {
    const res = await pushManifest(url, "refs", sha256(body), body, OCI_MANIFEST);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("oci-subject"), subject.digest);
  }
  // An image manifest without artifactType is listed under its config's media type.
  const plain = JSON.parse(subject.manifest);
  plain.subject = subjectDescriptor;
  const plainBody = JSON.stringify(plain);
  assert.equal((await pushManifest(url, "refs", sha256(plainBody), plainBody, OCI_MANIFEST)).status, 201);
  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: "application/vnd.example.bundle", manifests: [], subject: subjectDescriptor });
  assert.equal((await pushManifest(url, "refs", sha256(index), index, OCI_INDEX)).status, 201);

  let res = await fetch(`${url}/v2/refs/referrers/${subject.digest}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), OCI_INDEX);
  assert.equal(res.headers.get("oci-filters-applied"), null);
  let body = (await res.json()) as { schemaVersion: number; mediaType: string; manifests: { digest: string; artifactType: string; size: number; annotations?: Record<string, string> }[] };
  assert.equal(body.schemaVersion, 2);
  assert.equal(body.mediaType, OCI_INDEX);
  const byDigest = new Map(body.manifests.map((m) => [m.digest, m]));
  assert.equal(byDigest.size, 4);
  assert.equal(byDigest.get(sha256(sig))?.artifactType, "application/vnd.example.signature");
  assert.deepEqual(byDigest.get(sha256(sig))?.annotations, { note: "sig" });
  assert.equal(byDigest.get(sha256(sig))?.size, Buffer.byteLength(sig));
  assert.equal(byDigest.get(sha256(plainBody))?.artifactType, "application/vnd.oci.image.config.v1+json");
  assert.equal(byDigest.get(sha256(index))?.artifactType, "application/vnd.example.bundle");

  res = await fetch(`${url}/v2/refs/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
  assert.equal(res.headers.get("oci-filters-applied"), "artifactType");
  body = (await res.json()) as typeof body;
  assert.deepEqual(body.manifests.map((m) => m.digest), [sha256(sbom)]);

  // Deleting a referrer removes it from the list; an unknown subject has an empty list.
  assert.equal((await fetch(`${url}/v2/refs/manifests/${sha256(sig)}`, { method: "DELETE" })).status, 202);
  body = (await (await fetch(`${url}/v2/refs/referrers/${subject.digest}`)).json()) as typeof body;
  assert.equal(body.manifests.length, 3);
  body = (await (await fetch(`${url}/v2/refs/referrers/${sha256("no such subject")}`)).json()) as typeof body;
  assert.deepEqual(body.manifests, []);
  // Referrers are per repository too.
  await expectError(await fetch(`${url}/v2/elsewhere/referrers/${subject.digest}`), 404, "NAME_UNKNOWN");
  await expectError(await fetch(`${url}/v2/refs/referrers/sha256:nothex`), 400, "DIGEST_INVALID");
  assert.deepEqual(logs, []);
});

test("referrers follow manifests, not tags: deleting a referrer's tag keeps its entry, deleting the manifest removes it", async (t) => {
  const { url, logs } = await startRegistry(t);
  const subject = await makeImage(url, "reftags");
  assert.equal((await pushManifest(url, "reftags", "app", subject.manifest, OCI_MANIFEST)).status, 201);
  const subjectDescriptor = { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.manifest) };
  // A referrer pushed under a tag as well (cosign's tag scheme does so), and one by digest only.
  const tagged = await makeImage(url, "reftags", { extra: { subject: subjectDescriptor } });
  assert.equal((await pushManifest(url, "reftags", "sha256-sig", tagged.manifest, OCI_MANIFEST)).status, 201);
  const untagged = await makeImage(url, "reftags", { extra: { subject: subjectDescriptor } });
  assert.equal((await pushManifest(url, "reftags", untagged.digest, untagged.manifest, OCI_MANIFEST)).status, 201);
  const listed = async () => ((await (await fetch(`${url}/v2/reftags/referrers/${subject.digest}`)).json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest).sort();
  assert.deepEqual(await listed(), [tagged.digest, untagged.digest].sort());

  // The spec lists manifests with a subject; a tag is only a name for one.
  assert.equal((await fetch(`${url}/v2/reftags/manifests/sha256-sig`, { method: "DELETE" })).status, 202);
  assert.deepEqual(await listed(), [tagged.digest, untagged.digest].sort());
  assert.equal((await fetch(`${url}/v2/reftags/manifests/${tagged.digest}`, { method: "DELETE" })).status, 202);
  assert.deepEqual(await listed(), [untagged.digest]);
  // Deleting the subject's tag, or the subject, leaves its referrers listed: the subject need not exist (OCI 1.1).
  assert.equal((await fetch(`${url}/v2/reftags/manifests/app`, { method: "DELETE" })).status, 202);
  assert.equal((await fetch(`${url}/v2/reftags/manifests/${subject.digest}`, { method: "DELETE" })).status, 202);
  assert.deepEqual(await listed(), [untagged.digest]);
  assert.equal((await fetch(`${url}/v2/reftags/manifests/${untagged.digest}`, { method: "DELETE" })).status, 202);
  assert.deepEqual(await listed(), []);
  assert.deepEqual(logs, []);
});
