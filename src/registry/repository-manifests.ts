import type { BlobService } from "../layers/blob-service.js";
import { parseManifest, type ParsedManifest } from "./manifest-format.js";
import type { ManifestRecord, RegistryMetadata } from "./metadata.js";

/**
 * A repository's manifests read back and parsed, for what looks at them all at once: the
 * retention of untagged manifests (what holds what) and garbage collection's roots (which blobs
 * they name).
 */

/** A manifest the store cannot rebuild, or that no longer parses: its repository is left alone. */
export class Unreadable extends Error {}

export async function manifestsOf(meta: RegistryMetadata, name: string): Promise<Map<string, ManifestRecord>> {
  const records = new Map<string, ManifestRecord>();
  for await (const [digest, record] of meta.manifests(name)) records.set(digest, record);
  return records;
}

/** The repository's manifests read and parsed (those in `known` not read again). */
export async function parseAll(blobs: BlobService, records: Map<string, ManifestRecord>, known = new Map<string, ParsedManifest>()): Promise<Map<string, ParsedManifest>> {
  const parsed = new Map<string, ParsedManifest>();
  for (const [digest, record] of records) {
    const cached = known.get(digest);
    if (cached !== undefined) {
      parsed.set(digest, cached);
      continue;
    }
    const bytes = await blobs.readAll(digest);
    if (bytes === undefined) throw new Unreadable(`manifest ${digest} cannot be rebuilt from the store`);
    try {
      parsed.set(digest, parseManifest(bytes, record.mediaType));
    } catch (error) {
      throw new Unreadable(`manifest ${digest} does not parse: ${(error as Error).message}`);
    }
  }
  return parsed;
}

/** The blobs (config, layers) the manifests name. */
export function namedBlobs(manifests: Iterable<ParsedManifest>): Set<string> {
  const named = new Set<string>();
  for (const manifest of manifests) for (const blob of manifest.blobs) named.add(blob.digest);
  return named;
}
