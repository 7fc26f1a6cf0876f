import type { Exchange } from "./context.js";
import { nextPageLink, parsePagination, sendJson } from "./http-util.js";
import { MediaType } from "./manifest-format.js";
import { checkDigest, checkRepositoryName } from "./names.js";
import { RegistryError } from "./oci-errors.js";

/** The most entries one listing returns; past that the answer carries a Link to the rest. */
export const MAX_PAGE = 10_000;

/** GET /v2/<name>/tags/list?n=&last= */
export async function listTags(ex: Exchange, rawName: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  if (!(await ex.registry.meta.repositoryExists(name))) throw nameUnknown(name);
  const { n, last } = parsePagination(ex.query, MAX_PAGE);
  const limit = n ?? MAX_PAGE;
  // One extra entry tells whether a next page exists.
  const tags = await ex.registry.meta.listTags(name, last, limit + 1);
  const page = tags.slice(0, limit);
  const headers: Record<string, string> = {};
  if (tags.length > limit && page.length > 0) headers.Link = nextPageLink(`/v2/${name}/tags/list`, limit, page[page.length - 1]!);
  sendJson(ex.res, 200, { name, tags: page }, headers);
}

/** GET /v2/_catalog?n=&last= */
export async function listRepositories(ex: Exchange): Promise<void> {
  const { n, last } = parsePagination(ex.query, MAX_PAGE);
  const limit = n ?? MAX_PAGE;
  const names = await ex.registry.meta.listRepositories(last, limit + 1);
  const page = names.slice(0, limit);
  const headers: Record<string, string> = {};
  // The next page starts after the last name read, listed or not: a page may come out short
  // (even empty, with a Link on) rather than reveal what the caller may not pull.
  if (names.length > limit && page.length > 0) headers.Link = nextPageLink("/v2/_catalog", limit, page[page.length - 1]!);
  const who = ex.who;
  sendJson(ex.res, 200, { repositories: who === undefined ? page : page.filter((name) => who.mayList(name)) }, headers);
}

/**
 * GET /v2/<name>/referrers/<digest>?artifactType= (OCI 1.1): an image index of the manifests
 * whose `subject` is <digest>. The subject itself need not exist; then the list may still
 * have entries, or be empty, and the answer is 200 either way.
 */
export async function listReferrers(ex: Exchange, rawName: string, rawDigest: string): Promise<void> {
  const name = checkRepositoryName(rawName);
  const subject = checkDigest(rawDigest);
  if (!(await ex.registry.meta.repositoryExists(name))) throw nameUnknown(name);
  let manifests = await ex.registry.meta.listReferrers(name, subject);
  const headers: Record<string, string> = { "Content-Type": MediaType.ociIndex };
  const artifactType = ex.query.get("artifactType");
  if (artifactType !== null && artifactType !== "") {
    manifests = manifests.filter((descriptor) => descriptor.artifactType === artifactType);
    headers["OCI-Filters-Applied"] = "artifactType";
  }
  sendJson(ex.res, 200, { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }, headers);
}

function nameUnknown(name: string): RegistryError {
  return new RegistryError("NAME_UNKNOWN", `repository ${name} is not known to this registry`, { detail: { name } });
}
