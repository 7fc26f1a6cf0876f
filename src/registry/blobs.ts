import { sendPieces } from "../http/send.js";
import type { StoredBlob } from "../layers/blob-service.js";
import type { Exchange } from "./context.js";
import { parseRangeHeader } from "./http-range.js";
import { sendEmpty } from "./http-util.js";
import { checkDigest, checkRepositoryName } from "./names.js";
import { RegistryError } from "./oci-errors.js";

/** Blobs never change under their digest, so clients and proxies may cache them for good. */
const IMMUTABLE = "max-age=31536000";

/** GET/HEAD /v2/<name>/blobs/<digest>, with Range. */
export async function getBlob(ex: Exchange, rawName: string, rawDigest: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const digest = checkDigest(rawDigest);
  const blob = await linkedBlob(ex, name, digest);
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
    "Cache-Control": IMMUTABLE,
    "Accept-Ranges": "bytes",
  };
  const wanted = parseRangeHeader(ex.req.headers.range, blob.size);
  if (wanted.kind === "unsatisfiable") {
    throw new RegistryError("SIZE_INVALID", `range ${ex.req.headers.range} is outside the ${blob.size}-byte blob`, {
      status: 416,
      headers: { "Content-Range": `bytes */${blob.size}` },
      detail: { size: blob.size },
    });
  }
  const range = wanted.kind === "part" ? wanted.range : undefined;
  const status = range === undefined ? 200 : 206;
  if (range !== undefined) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${blob.size}`;
  headers["Content-Length"] = String(range === undefined ? blob.size : range.end - range.start + 1);

  if (ex.method === "HEAD") {
    ex.res.writeHead(status, headers);
    ex.res.end();
    return;
  }
  // A client that leaves while queued gives up its place.
  const left = new AbortController();
  ex.res.once("close", () => left.abort());
  const release = await ex.registry.reads.enter(left.signal);
  try {
    // Rebuilding starts before the status line goes out, so that a blob whose chunks cannot be
    // read at all gets a proper error answer instead of a cut connection.
    const pieces = blob.read(range);
    const first = await pieces.next();
    ex.res.writeHead(status, headers);
    await sendPieces(ex.res, Number(headers["Content-Length"]), pieces, first.done ? undefined : first.value, (piece) => blob.sent(piece));
  } finally {
    release();
  }
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks the blob from this repository only. */
export async function deleteBlob(ex: Exchange, rawName: string, rawDigest: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const digest = checkDigest(rawDigest);
  if ((await ex.registry.meta.blobLink(name, digest)) === undefined) throw blobUnknown(name, digest);
  // The chunks stay: other repositories may share them, and garbage collection owns deletion.
  await ex.registry.meta.unlinkBlob(name, digest);
  await ex.registry.meta.dropIfEmpty(name);
  sendEmpty(ex.res, 202, { "Docker-Content-Digest": digest });
}

/** A blob that `name` links; BLOB_UNKNOWN otherwise, whatever other repositories hold. */
export async function linkedBlob(ex: Exchange, name: string, digest: string): Promise<StoredBlob> {
  if ((await ex.registry.meta.blobLink(name, digest)) === undefined) throw blobUnknown(name, digest);
  const blob = await ex.registry.blobs.open(digest);
  if (blob === undefined) {
    ex.registry.log(`repository ${name} links ${digest}, but the store cannot rebuild it`);
    throw blobUnknown(name, digest);
  }
  return blob;
}

export function blobUnknown(name: string, digest: string): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", `blob ${digest} is unknown to repository ${name}`, { detail: { digest } });
}

