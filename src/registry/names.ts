import { isSha256Digest } from "../layers/digest.js";
import { RegistryError } from "./oci-errors.js";

/**
 * Repository names, tags and digests as the OCI Distribution Spec v1.1 defines them. Every
 * value taken from a URL passes through here before it reaches the store: the name regex
 * rejects `..`, empty path components, uppercase and anything else that could address a
 * different key (the metadata keys are built from these strings; see keys.ts).
 */

const NAME_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
/** Clients cap `host[:port]/name` at 255 characters; the name alone can be no longer. */
export const MAX_NAME_LENGTH = 255;

const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** The digest grammar of the spec: `algorithm ":" encoded`. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

export function checkRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError("NAME_INVALID", `invalid repository name ${JSON.stringify(name.slice(0, 300))}`, { detail: { name: name.slice(0, 300) } });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * A digest from a URL or query. This registry hashes with sha256 only, so a well-formed digest
 * of another algorithm is refused as DIGEST_INVALID too, with a message saying why.
 */
export function checkDigest(text: string, what = "digest"): string {
  if (isSha256Digest(text)) return text;
  const detail = { digest: text.slice(0, 200) };
  if (DIGEST_GRAMMAR.test(text) && !text.startsWith("sha256:")) {
    throw new RegistryError("DIGEST_INVALID", `unsupported ${what} algorithm in ${JSON.stringify(text.slice(0, 200))}: this registry uses sha256`, { detail });
  }
  throw new RegistryError("DIGEST_INVALID", `invalid ${what} ${JSON.stringify(text.slice(0, 200))}`, { detail });
}

/** A manifest reference from a URL: a digest if it has a colon (tags cannot), else a tag. */
export type Reference = { kind: "tag"; tag: string } | { kind: "digest"; digest: string };

/**
 * Parses a manifest reference. A malformed digest is DIGEST_INVALID. A malformed tag cannot
 * name anything stored, so reads answer MANIFEST_UNKNOWN; a PUT answers MANIFEST_INVALID.
 */
export function parseReference(text: string, forWrite: boolean): Reference {
  if (text.includes(":")) return { kind: "digest", digest: checkDigest(text) };
  if (isValidTag(text)) return { kind: "tag", tag: text };
  const detail = { tag: text.slice(0, 200) };
  if (forWrite) throw new RegistryError("MANIFEST_INVALID", `invalid tag ${JSON.stringify(text.slice(0, 200))}`, { detail });
  throw new RegistryError("MANIFEST_UNKNOWN", `no manifest ${JSON.stringify(text.slice(0, 200))}: not a valid tag or digest`, { detail });
}
