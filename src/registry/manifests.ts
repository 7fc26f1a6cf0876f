import type { BlobService } from "../layers/blob-service.js";
import type { Exchange } from "./context.js";
import { readBody } from "../http/body.js";
import { oneBuffer, sendEmpty } from "./http-util.js";
import { bodyRules } from "./limits.js";
import { acceptsManifest, parseManifest, type ParsedManifest } from "./manifest-format.js";
import type { ManifestRecord, RegistryMetadata } from "./metadata.js";
import { checkRepositoryName, parseReference, type Reference } from "./names.js";
import { RegistryError } from "./oci-errors.js";
import { sha256Digest } from "../layers/digest.js";

/**
 * Manifests by tag or digest. A manifest's bytes are stored as a blob (recipe) like any other,
 * so they come back byte-exact and their digest holds; its media type, size and subject live
 * in the repository's manifest link (metadata.ts).
 */

/** GET/HEAD /v2/<name>/manifests/<reference> */
export async function getManifest(ex: Exchange, rawName: string, rawReference: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const reference = parseReference(rawReference, false);
  const digest = await resolveReference(ex, name, reference);
  const record = await ex.registry.meta.getManifest(name, digest);
  if (record === undefined) throw manifestUnknown(name, rawReference);
  if (!acceptsManifest(ex.req.headers.accept, record.mediaType)) {
    throw new RegistryError("MANIFEST_UNKNOWN", `manifest ${rawReference} is ${record.mediaType}, which the request's Accept header does not list`, {
      detail: { mediaType: record.mediaType },
    });
  }
  const headers = {
    "Content-Type": record.mediaType,
    "Content-Length": String(record.size),
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
  };
  if (ex.method === "HEAD") {
    ex.res.writeHead(200, headers);
    ex.res.end();
    return;
  }
  const bytes = await readManifestBytes(ex, name, digest);
  ex.res.writeHead(200, headers);
  ex.res.end(bytes);
}

/** PUT /v2/<name>/manifests/<reference> */
/**
 * Stores a manifest's bytes, then the records that make it visible in repository `name` (see
 * keys.ts): its referrers entry when it has a subject, and its manifest link.
 */
export async function storeManifest(
  registry: { blobs: BlobService; meta: RegistryMetadata; now: () => number },
  name: string,
  digest: string,
  bytes: Buffer,
  manifest: ParsedManifest,
): Promise<void> {
  await registry.blobs.ingest(oneBuffer(bytes), { expectedDigest: digest });
  if (manifest.subject !== undefined) {
    await registry.meta.addReferrer(name, manifest.subject.digest, {
      mediaType: manifest.mediaType,
      digest,
      size: bytes.length,
      ...(manifest.artifactType === undefined ? {} : { artifactType: manifest.artifactType }),
      ...(manifest.annotations === undefined ? {} : { annotations: manifest.annotations }),
    });
  }
  const record: ManifestRecord = { mediaType: manifest.mediaType, size: bytes.length, pushed: registry.now() };
  if (manifest.subject !== undefined) record.subject = manifest.subject.digest;
  await registry.meta.putManifest(name, digest, record);
}

export async function putManifest(ex: Exchange, rawName: string, rawReference: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const reference = parseReference(rawReference, true);
  const bytes = await readBody(ex.req, bodyRules(ex.registry.limits, "MANIFEST_INVALID", "the manifest", ex.registry.limits.maxManifestBytes));
  const digest = sha256Digest(bytes);
  if (reference.kind === "digest" && reference.digest !== digest) {
    throw new RegistryError("DIGEST_INVALID", `manifest has digest ${digest}, not ${reference.digest}`, { detail: { expected: reference.digest, actual: digest } });
  }
  const manifest = parseManifest(bytes, ex.req.headers["content-type"]);
  await checkReferences(ex, name, manifest);

  await storeManifest(ex.registry, name, digest, bytes, manifest);
  await keepReferences(ex, name, manifest);
  if (reference.kind === "tag") await ex.registry.meta.setTag(name, reference.tag, digest);

  const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest };
  if (manifest.subject !== undefined) headers["OCI-Subject"] = manifest.subject.digest;
  sendEmpty(ex.res, 201, headers);
}

/** DELETE /v2/<name>/manifests/<reference>: a tag alone, or a manifest with its tags. */
export async function deleteManifest(ex: Exchange, rawName: string, rawReference: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const reference = parseReference(rawReference, false);
  const { meta } = ex.registry;
  if (reference.kind === "tag") {
    if ((await meta.getTag(name, reference.tag)) === undefined) throw manifestUnknown(name, rawReference);
    await meta.deleteTag(name, reference.tag);
    await meta.dropIfEmpty(name);
    sendEmpty(ex.res, 202);
    return;
  }
  const { digest } = reference;
  const record = await meta.getManifest(name, digest);
  if (record === undefined) throw manifestUnknown(name, rawReference);
  await removeManifest(meta, name, digest, record);
  await meta.dropIfEmpty(name);
  sendEmpty(ex.res, 202);
}

/**
 * Takes manifest `digest` out of repository `name`: its tags, its entry in its subject's
 * referrers, then its link. A DELETE and the retention of untagged manifests (retention.ts) both
 * come here, so the referrers listing never names a manifest that is gone. Tags and the referrers
 * entry go before the link, so none of them is left pointing at nothing.
 */
export async function removeManifest(meta: RegistryMetadata, name: string, digest: string, record: ManifestRecord): Promise<void> {
  for (const tag of await meta.tagsOf(name, digest)) await meta.deleteTag(name, tag);
  if (record.subject !== undefined) await meta.removeReferrer(name, record.subject, digest);
  await meta.deleteManifest(name, digest);
}

async function resolveReference(ex: Exchange, name: string, reference: Reference): Promise<string> {
  if (reference.kind === "digest") return reference.digest;
  const digest = await ex.registry.meta.getTag(name, reference.tag);
  if (digest === undefined) throw manifestUnknown(name, reference.tag);
  return digest;
}

async function readManifestBytes(ex: Exchange, name: string, digest: string): Promise<Buffer> {
  const bytes = await ex.registry.blobs.readAll(digest);
  if (bytes === undefined) {
    ex.registry.log(`repository ${name} links manifest ${digest}, but the store cannot rebuild it`);
    throw manifestUnknown(name, digest);
  }
  return bytes;
}

/**
 * Everything a manifest points at must already be in this repository: its blobs uploaded or
 * mounted here, an index's manifests pushed here. Sizes must agree, or clients would fail
 * later on a blob that does not match its descriptor. A `subject` need not exist (OCI 1.1).
 */
async function checkReferences(ex: Exchange, name: string, manifest: ParsedManifest): Promise<void> {
  const { meta } = ex.registry;
  const found = await Promise.all([
    ...manifest.blobs.map(async (d) => ({ d, size: (await meta.blobLink(name, d.digest))?.size })),
    ...manifest.manifests.map(async (d) => ({ d, size: (await meta.getManifest(name, d.digest))?.size })),
  ]);
  for (const { d, size } of found) {
    if (size === undefined) {
      throw new RegistryError("MANIFEST_BLOB_UNKNOWN", `manifest references ${d.digest}, which repository ${name} does not have`, { detail: { digest: d.digest } });
    }
    if (size !== d.size) {
      throw new RegistryError("MANIFEST_INVALID", `manifest gives ${d.digest} a size of ${d.size} bytes, but it has ${size}`, { detail: { digest: d.digest, size: d.size, actual: size } });
    }
  }
}

/**
 * Links again a blob the manifest names whose link garbage collection removed between
 * checkReferences and the manifest's link (gc-roots.ts): the check found it here, so the
 * repository may have it. A collection that removes a link after this finds the manifest when it
 * reads the manifests again, and puts the link back itself.
 */
async function keepReferences(ex: Exchange, name: string, manifest: ParsedManifest): Promise<void> {
  const { meta } = ex.registry;
  for (const blob of manifest.blobs) {
    if ((await meta.blobLink(name, blob.digest)) === undefined) await meta.linkBlob(name, blob.digest, { size: blob.size, linked: ex.registry.now() });
  }
}

function manifestUnknown(name: string, reference: string): RegistryError {
  return new RegistryError("MANIFEST_UNKNOWN", `manifest ${reference} is unknown to repository ${name}`, { detail: { name, reference } });
}
