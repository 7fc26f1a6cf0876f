import { isSha256Digest } from "../layers/digest.js";
import { RegistryError } from "./oci-errors.js";
import type { Descriptor } from "./metadata.js";

/** The manifest media types this registry stores and serves. */
export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

const IMAGE_MANIFESTS: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
const INDEXES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
export const MANIFEST_MEDIA_TYPES: readonly string[] = [...IMAGE_MANIFESTS, ...INDEXES];

/** Other manifest kinds clients may name in Accept; only used to read Accept headers right. */
const OTHER_MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "application/vnd.oci.artifact.manifest.v1+json",
];

/** Layers that clients fetch from their `urls`, not from the registry, so they need not be pushed. */
const FOREIGN_LAYERS = [
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/** Long enough for sha512 (135 characters) with room to spare. */
const MAX_DIGEST_LENGTH = 150;

/** A manifest as far as the registry cares: what it points at, and what the referrers API lists. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs that must be in the repository: config and layers. */
  blobs: Descriptor[];
  /** Manifests that must be in the repository: an index's entries. */
  manifests: Descriptor[];
  subject?: Descriptor;
  /** The referrers API's artifactType: the field, else an image manifest's config media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

/**
 * Parses and checks a pushed manifest. The media type comes from the body's `mediaType`, else
 * from Content-Type when that names a manifest type, else from the shape (umoci writes OCI
 * manifests without `mediaType`). A body whose `mediaType` contradicts Content-Type is refused,
 * as the spec requires.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  const text = bytes.toString("utf8");
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  // JSON.parse keeps the last of two equal keys, where another reader may keep the first: a
  // manifest could then name one layer here and another to a client. Such a manifest is refused.
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) throw invalid(`manifest has the key ${JSON.stringify(duplicate.slice(0, 100))} twice in one object`);
  if (!isObject(doc)) throw invalid("manifest is not a JSON object");
  if (doc.schemaVersion !== 2) throw invalid(`unsupported schemaVersion ${JSON.stringify(doc.schemaVersion)}: expected 2`);

  const declared = mediaTypeOf(contentType);
  const inBody = doc.mediaType;
  if (inBody !== undefined && typeof inBody !== "string") throw invalid("mediaType must be a string");
  if (inBody !== undefined && declared !== undefined && MANIFEST_MEDIA_TYPES.includes(declared) && inBody !== declared) {
    throw invalid(`Content-Type ${declared} does not match the manifest's mediaType ${inBody}`);
  }
  const mediaType = inBody ?? (declared !== undefined && MANIFEST_MEDIA_TYPES.includes(declared) ? declared : "manifests" in doc ? MediaType.ociIndex : MediaType.ociManifest);
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    throw invalid(`unsupported manifest media type ${JSON.stringify(mediaType)}: expected one of ${MANIFEST_MEDIA_TYPES.join(", ")}`);
  }

  const parsed: ParsedManifest = { mediaType, blobs: [], manifests: [] };
  if (IMAGE_MANIFESTS.includes(mediaType)) {
    const config = descriptor(doc.config, "config");
    if (!Array.isArray(doc.layers)) throw invalid("layers must be an array");
    parsed.blobs = [config];
    doc.layers.forEach((raw: unknown, i) => {
      const layer = descriptor(raw, `layers[${i}]`);
      if (!isForeign(layer, raw)) parsed.blobs.push(layer);
    });
    parsed.artifactType = optionalString(doc.artifactType, "artifactType") ?? config.mediaType;
  } else {
    if (!Array.isArray(doc.manifests)) throw invalid("manifests must be an array");
    parsed.manifests = doc.manifests.map((entry, i) => descriptor(entry, `manifests[${i}]`));
    parsed.artifactType = optionalString(doc.artifactType, "artifactType");
  }
  if (doc.subject !== undefined && doc.subject !== null) parsed.subject = descriptor(doc.subject, "subject");
  if (doc.annotations !== undefined) parsed.annotations = annotations(doc.annotations);
  return parsed;
}

/** The media type part of a Content-Type or Accept entry, lowercased, without parameters. */
export function mediaTypeOf(header: string | undefined): string | undefined {
  const type = header?.split(";")[0]?.trim().toLowerCase();
  return type === "" ? undefined : type;
}

/**
 * Whether a client's Accept header lets it receive a manifest of `mediaType`. This registry
 * cannot convert manifests, so the stored form is served unless the client listed manifest
 * types and this is not one of them (CNCF distribution answers MANIFEST_UNKNOWN then too).
 * No Accept, a wildcard, or an Accept naming no manifest type at all gets the manifest.
 */
export function acceptsManifest(accept: string | undefined, mediaType: string): boolean {
  if (accept === undefined) return true;
  const listed = accept.split(",").map((entry) => mediaTypeOf(entry)).filter((type): type is string => type !== undefined);
  if (listed.includes(mediaType) || listed.includes("*/*") || listed.includes("application/*")) return true;
  return !listed.some((type) => MANIFEST_MEDIA_TYPES.includes(type) || OTHER_MANIFEST_TYPES.includes(type));
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string" || mediaType === "") throw invalid(`${where}.mediaType must be a non-empty string`);
  // The length cap keeps metadata keys built from digests (referrers) within LMDB's key limit.
  if (typeof digest !== "string" || digest.length > MAX_DIGEST_LENGTH || !/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) {
    throw invalid(`${where}.digest ${JSON.stringify(digest)} is not a valid digest`);
  }
  if (digest.startsWith("sha256:") && !isSha256Digest(digest)) throw invalid(`${where}.digest ${JSON.stringify(digest)} is not a valid sha256 digest`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  const out: Descriptor = { mediaType, digest, size };
  const artifactType = optionalString(value.artifactType, `${where}.artifactType`);
  if (artifactType !== undefined) out.artifactType = artifactType;
  if (value.annotations !== undefined) out.annotations = annotations(value.annotations);
  return out;
}

function isForeign(layer: Descriptor, raw: unknown): boolean {
  const urls = isObject(raw) ? raw.urls : undefined;
  return FOREIGN_LAYERS.includes(layer.mediaType) && Array.isArray(urls) && urls.length > 0;
}

function annotations(value: unknown): Record<string, string> {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== "string")) throw invalid("annotations must map strings to strings");
  return value as Record<string, string>;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalid(`${where} must be a string`);
  return value;
}

/**
 * The first key that occurs twice in one object of a JSON text (already known to be valid
 * JSON), compared as decoded strings; undefined if there is none.
 */
export function duplicateKey(text: string): string | undefined {
  /** One entry per open object (its keys so far) or array (null). */
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      if (keyNext) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        const keys = open[open.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        keyNext = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      keyNext = true;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
    } else if (c === 0x2c /* , */) {
      keyNext = open[open.length - 1] instanceof Set;
    }
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(message: string): RegistryError {
  return new RegistryError("MANIFEST_INVALID", message);
}
