import { sendPieces } from "../http/send.js";
import { readBlob } from "../layers/reconstruct.js";
import type { Recipe } from "../store/recipe.js";
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
  const recipe = await linkedRecipe(ex, name, digest);
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
    "Cache-Control": IMMUTABLE,
    "Accept-Ranges": "bytes",
  };
  const wanted = parseRangeHeader(ex.req.headers.range, recipe.size);
  if (wanted.kind === "unsatisfiable") {
    throw new RegistryError("SIZE_INVALID", `range ${ex.req.headers.range} is outside the ${recipe.size}-byte blob`, {
      status: 416,
      headers: { "Content-Range": `bytes */${recipe.size}` },
      detail: { size: recipe.size },
    });
  }
  const range = wanted.kind === "part" ? wanted.range : undefined;
  const status = range === undefined ? 200 : 206;
  if (range !== undefined) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${recipe.size}`;
  headers["Content-Length"] = String(range === undefined ? recipe.size : range.end - range.start + 1);

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
    const pieces = readBlob(ex.registry.store, recipe, range);
    const first = await pieces.next();
    ex.res.writeHead(status, headers);
    await sendPieces(ex.res, Number(headers["Content-Length"]), pieces, first.done ? undefined : first.value);
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
  sendEmpty(ex.res, 202, { "Docker-Content-Digest": digest });
}

/** The recipe of a blob that `name` links; BLOB_UNKNOWN otherwise, whatever other repositories hold. */
export async function linkedRecipe(ex: Exchange, name: string, digest: string): Promise<Recipe> {
  if ((await ex.registry.meta.blobLink(name, digest)) === undefined) throw blobUnknown(name, digest);
  const recipe = await ex.registry.store.getRecipe(digest);
  if (recipe === undefined) {
    ex.registry.log(`repository ${name} links ${digest}, but the store has no recipe for it`);
    throw blobUnknown(name, digest);
  }
  return recipe;
}

export function blobUnknown(name: string, digest: string): RegistryError {
  return new RegistryError("BLOB_UNKNOWN", `blob ${digest} is unknown to repository ${name}`, { detail: { digest } });
}

