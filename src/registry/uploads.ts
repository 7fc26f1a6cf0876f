import type { Exchange } from "./context.js";
import { parseUploadRange } from "./http-range.js";
import { bodyPieces, type BodyRules } from "../http/body.js";
import { contentLength, sendEmpty } from "./http-util.js";
import { bodyRules, clientOf } from "./limits.js";
import { checkDigest, checkRepositoryName } from "./names.js";
import { RegistryError } from "./oci-errors.js";
import type { UploadSession } from "./upload-record.js";
import { rangeInvalid, uploadRangeHeaders } from "./upload-session.js";

/**
 * Blob uploads (spec section "Pushing blobs"): monolithic POST, session start, cross-repository
 * mount, chunked PATCH, status GET, PUT to finish and DELETE to cancel. Sessions live in the
 * store and each request's bytes go straight into it as a part (see upload-session.ts); a blob
 * is linked to the repository only once its digest has been checked and its recipe committed.
 */

/** POST /v2/<name>/blobs/uploads/ */
export async function startUpload(ex: Exchange, rawName: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const mount = ex.query.get("mount");
  if (mount !== null) {
    const digest = checkDigest(mount, "mount digest");
    const from = ex.query.get("from");
    // With auth on, only from a repository the caller may pull (the authorizer's `mayMount`):
    // deduplication must not hand a blob across an access boundary to anyone who knows its digest.
    const mayMount = ex.who?.mayMount ?? true;
    if (from !== null && mayMount && (await mountBlob(ex, name, digest, checkRepositoryName(from)))) return;
    // No source, one the caller may not pull, or the source does not have it: the spec's answer
    // is a fresh session, the same whichever it was. (Without `from` the registry could look in
    // every repository, but that would let any repository read a blob of any other just by
    // knowing its digest.)
    return openSession(ex, name);
  }
  const digestParam = ex.query.get("digest");
  if (digestParam !== null) {
    const digest = checkDigest(digestParam);
    const body = bodyPieces(ex.req, blobRules(ex, 0, contentLength(ex.req)));
    const result = await ex.registry.blobs.ingest(body, { expectedDigest: digest });
    await ex.registry.meta.linkBlob(name, result.digest, { size: result.size, linked: ex.registry.now() });
    return sendCreated(ex, name, result.digest);
  }
  return openSession(ex, name);
}

/** GET /v2/<name>/blobs/uploads/<id>: how far the upload has come. */
export async function uploadStatus(ex: Exchange, rawName: string, id: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const session = await ex.registry.uploads.get(name, id);
  sendEmpty(ex.res, 204, progressHeaders(name, session));
}

/** PATCH /v2/<name>/blobs/uploads/<id>: one chunk, in order, or a whole streamed blob. */
export async function patchUpload(ex: Exchange, rawName: string, id: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const uploads = ex.registry.uploads;
  const session = await uploads.get(name, id);
  const appended = await uploads.exclusive(session, () => uploads.appendPart(session, chunkBody(ex, session)));
  sendEmpty(ex.res, 202, progressHeaders(name, appended));
}

/** PUT /v2/<name>/blobs/uploads/<id>?digest=: the last chunk, if any, then commit and link. */
export async function finishUpload(ex: Exchange, rawName: string, id: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const uploads = ex.registry.uploads;
  const session = await uploads.get(name, id);
  const digestParam = ex.query.get("digest");
  if (digestParam === null) throw new RegistryError("DIGEST_INVALID", "the digest query parameter is required to finish an upload");
  const digest = checkDigest(digestParam);
  const length = contentLength(ex.req);
  const hasBody = length === undefined ? ex.req.headers["transfer-encoding"] !== undefined : length > 0;
  const blob = await uploads.exclusive(session, () => uploads.commit(session, digest, hasBody ? chunkBody(ex, session) : undefined));
  // Linked before the session goes: a crash in between leaves a session to expire, not a lost blob.
  await ex.registry.meta.linkBlob(name, blob.digest, { size: blob.size, linked: ex.registry.now() });
  await uploads.end(session);
  sendCreated(ex, name, blob.digest);
}

/** DELETE /v2/<name>/blobs/uploads/<id> */
export async function cancelUpload(ex: Exchange, rawName: string, id: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const session = await ex.registry.uploads.get(name, id);
  await ex.registry.uploads.end(session);
  sendEmpty(ex.res, 204);
}

/** Links a blob of `from` into `name` if `from` has it; false if it does not. */
async function mountBlob(ex: Exchange, name: string, digest: string, from: string): Promise<boolean> {
  const link = await ex.registry.meta.blobLink(from, digest);
  if (link === undefined || !(await ex.registry.blobs.has(digest))) return false;
  await ex.registry.meta.linkBlob(name, digest, { size: link.size, linked: ex.registry.now() });
  sendCreated(ex, name, digest);
  return true;
}

async function openSession(ex: Exchange, name: string): Promise<void> {
  const session = await ex.registry.uploads.open(name, clientOf(ex.req, ex.who?.user));
  sendEmpty(ex.res, 202, progressHeaders(name, session));
}

/**
 * The request body of a PATCH or final PUT. With `Content-Range` it must start where the
 * upload stands (else 416, as the spec requires for out-of-order chunks) and carry exactly the
 * range it declares; and no upload may grow past the blob size limit. A body broken by one of
 * these rules is refused whole: none of it is added to the upload.
 */
function chunkBody(ex: Exchange, session: UploadSession): AsyncIterable<Uint8Array> {
  const header = ex.req.headers["content-range"];
  const length = contentLength(ex.req);
  const { offset } = session.record;
  if (header === undefined) return bodyPieces(ex.req, blobRules(ex, offset, length));
  const range = parseUploadRange(header);
  if (range === undefined) {
    throw new RegistryError("BLOB_UPLOAD_INVALID", `invalid Content-Range ${JSON.stringify(header.slice(0, 100))}: expected <start>-<end>`);
  }
  if (range.start !== offset) throw rangeInvalid(offset, `chunk starts at byte ${range.start}, but the upload is at byte ${offset}`);
  const declared = range.end - range.start + 1;
  if (length !== undefined && length !== declared) {
    throw new RegistryError("SIZE_INVALID", `Content-Length ${length} does not match Content-Range ${header}`);
  }
  // Within the blob size limit (checked here), so the only way to be too large is to pass the range.
  const rules = blobRules(ex, offset, declared);
  const overRange = () => new RegistryError("SIZE_INVALID", `the chunk carries more than the ${declared} bytes of its Content-Range ${header}`);
  const pieces = bodyPieces(ex.req, { ...rules, maxBytes: declared, refuse: (why, limit) => (why === "too-large" ? overRange() : rules.refuse(why, limit)) });
  return exactly(pieces, declared, header);
}

/** Body rules for `declared` more bytes (when known) of a blob that has `offset` already: within the blob size limit. */
function blobRules(ex: Exchange, offset: number, declared: number | undefined): BodyRules & { maxBytes: number } {
  const max = ex.registry.limits.maxBlobBytes;
  const tooLarge = () => new RegistryError("SIZE_INVALID", `the blob would be larger than the ${max}-byte limit`, { status: 413, detail: { limit: max } });
  if (declared !== undefined && offset + declared > max) throw tooLarge();
  const rules = bodyRules(ex.registry.limits, "SIZE_INVALID", "the blob", max - offset);
  return { ...rules, refuse: (why, limit) => (why === "too-large" ? tooLarge() : rules.refuse(why, limit)) };
}

/** The pieces of a body that must carry exactly `declared` bytes; one that ends short is refused. */
async function* exactly(pieces: AsyncIterable<Uint8Array>, declared: number, header: string): AsyncGenerator<Uint8Array> {
  let received = 0;
  for await (const piece of pieces) {
    received += piece.length;
    yield piece;
  }
  if (received !== declared) throw new RegistryError("SIZE_INVALID", `the chunk carries ${received} bytes, not the ${declared} of its Content-Range ${header}`);
}

function sendCreated(ex: Exchange, name: string, digest: string): void {
  sendEmpty(ex.res, 201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
}

function progressHeaders(name: string, session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${name}/blobs/uploads/${session.id}`,
    "Docker-Upload-UUID": session.id,
    ...uploadRangeHeaders(session.record.offset),
  };
}
