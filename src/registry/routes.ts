/**
 * The OCI Distribution Spec v1.1 endpoints, from URL path to route. Names may contain `/`, so
 * the path is matched from its end: the longest prefix before a known suffix is the name.
 * Path parts are percent-decoded one by one after matching, so an encoded `/` cannot change
 * which endpoint a request reaches; names.ts then validates each part.
 *
 *   end-1   GET|HEAD          /v2/
 *   end-2   GET|HEAD          /v2/<name>/blobs/<digest>
 *   end-10  DELETE            /v2/<name>/blobs/<digest>
 *   end-4a  POST              /v2/<name>/blobs/uploads/[?digest=|?mount=&from=]
 *   end-5/6 PATCH|PUT         /v2/<name>/blobs/uploads/<reference>
 *   end-13  GET               /v2/<name>/blobs/uploads/<reference>
 *           DELETE            /v2/<name>/blobs/uploads/<reference>
 *   end-3   GET|HEAD          /v2/<name>/manifests/<reference>
 *   end-7   PUT               /v2/<name>/manifests/<reference>
 *   end-9   DELETE            /v2/<name>/manifests/<reference>
 *   end-8   GET               /v2/<name>/tags/list[?n=&last=]
 *   end-12  GET               /v2/<name>/referrers/<digest>[?artifactType=]
 *           GET               /v2/_catalog[?n=&last=]
 */
export type Route =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "uploads"; name: string }
  | { kind: "upload"; name: string; id: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "tags"; name: string }
  | { kind: "referrers"; name: string; digest: string };

export type RouteKind = Route["kind"];

/** The methods each endpoint answers; anything else is 405 with an `Allow` header. */
export const ALLOWED_METHODS: Record<RouteKind, readonly string[]> = {
  base: ["GET", "HEAD"],
  catalog: ["GET", "HEAD"],
  blob: ["GET", "HEAD", "DELETE"],
  uploads: ["POST"],
  upload: ["GET", "PATCH", "PUT", "DELETE"],
  manifest: ["GET", "HEAD", "PUT", "DELETE"],
  tags: ["GET", "HEAD"],
  referrers: ["GET", "HEAD"],
};

const ENDPOINT = /^\/v2\/(.+)\/(?:blobs\/uploads\/?|blobs\/uploads\/([^/]+)|blobs\/([^/]+)|manifests\/([^/]+)|tags\/list|referrers\/([^/]+))$/;

/** The route for a path, undefined for paths that are no endpoint, or `invalid` for undecodable ones. */
export function matchRoute(pathname: string): Route | "invalid" | undefined {
  if (pathname === "/v2/" || pathname === "/v2") return { kind: "base" };
  if (pathname === "/v2/_catalog") return { kind: "catalog" };
  const match = ENDPOINT.exec(pathname);
  if (!match) return undefined;
  const [whole, rawName, uploadId, blobDigest, reference, referrersDigest] = match;
  const decoded = [rawName, uploadId, blobDigest, reference, referrersDigest].map((part) => (part === undefined ? undefined : decodePart(part)));
  if (decoded.some((part) => part === null)) return "invalid";
  const [name, id, digest, ref, subject] = decoded as (string | undefined)[];
  if (id !== undefined) return { kind: "upload", name: name!, id };
  if (digest !== undefined) return { kind: "blob", name: name!, digest };
  if (ref !== undefined) return { kind: "manifest", name: name!, reference: ref };
  if (subject !== undefined) return { kind: "referrers", name: name!, digest: subject };
  if (whole.endsWith("/tags/list")) return { kind: "tags", name: name! };
  return { kind: "uploads", name: name! };
}

function decodePart(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}
