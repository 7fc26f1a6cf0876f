/**
 * The registry's key schema in the store's metadata API: the only place these keys are built.
 *
 *   registry/repo/<name>                              catalog entry            {"created": ISO time}
 *   registry/blob/<name>@<digest>                     repository blob link      {"size": n}
 *   registry/manifest/<name>@<digest>                 repository manifest link  ManifestRecord (metadata.ts)
 *   registry/tag/<name>:<tag>                         tag                       "<digest>" (utf-8)
 *   registry/referrer/<name>@<subject>@<digest>       referrers index           Descriptor (metadata.ts)
 *   registry/upload/<uuid>                            blob upload session       UploadRecord (upload-record.ts)
 *
 * Bytes live elsewhere: every blob, manifests included, is a recipe keyed by its digest and
 * shared by all repositories. A link is what lets a repository serve it: blobs are served only
 * through `blob` links and manifests only through `manifest` links, so identical content pushed
 * to one repository is never readable from another that did not upload, mount or reference it
 * (the lesson of zot's CVE-2024-39897).
 *
 * `@` and `:` cannot occur in a repository name (see names.ts), so `<name>@` and `<name>:`
 * prefixes never match another repository: `registry/tag/a:` cannot see the tags of `a/b`,
 * and a name cannot smuggle in a separator. Prefix scans return keys in byte order, which is
 * the lexical order the spec asks for in tag and catalog listings.
 *
 * The longest key is a referrer's: 18 + 255 (name) + 1 + 150 (subject digest, capped in
 * manifest-format.ts) + 1 + 71 = 496 bytes, under LMDB's 511-byte key limit.
 *
 * Upload sessions live here too, not in a serving process, so that any frontend over the store
 * can continue an upload another one started, and a restart loses none: the record lists the
 * parts received so far, each stored as a blob of its own (see upload-session.ts). The uuid is
 * checked to be a lowercase UUID before a key is built from it.
 */

const ROOT = "registry/";

export const keys = {
  repositoryPrefix: `${ROOT}repo/`,
  repository: (name: string) => `${ROOT}repo/${name}`,

  blobLinkPrefix: `${ROOT}blob/`,
  blobLinkPrefixOf: (name: string) => `${ROOT}blob/${name}@`,
  blobLink: (name: string, digest: string) => `${ROOT}blob/${name}@${digest}`,

  manifestLinkPrefix: `${ROOT}manifest/`,
  manifestLinkPrefixOf: (name: string) => `${ROOT}manifest/${name}@`,
  manifestLink: (name: string, digest: string) => `${ROOT}manifest/${name}@${digest}`,

  tagPrefixAll: `${ROOT}tag/`,
  tagPrefix: (name: string) => `${ROOT}tag/${name}:`,
  tag: (name: string, tag: string) => `${ROOT}tag/${name}:${tag}`,

  referrerPrefix: (name: string, subject: string) => `${ROOT}referrer/${name}@${subject}@`,
  referrer: (name: string, subject: string, digest: string) => `${ROOT}referrer/${name}@${subject}@${digest}`,

  uploadPrefix: `${ROOT}upload/`,
  upload: (id: string) => `${ROOT}upload/${id}`,
} as const;
