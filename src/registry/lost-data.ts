import type { MetadataStore } from "../store/types.js";
import { parseManifest } from "./manifest-format.js";
import { RegistryMetadata } from "./metadata.js";

/** What lost blobs cost one repository: the lost blobs it links, and its tags whose images need one. */
export interface RepositoryLoss {
  repository: string;
  blobs: string[];
  tags: string[];
}

/**
 * The repositories and tags that blobs the store can no longer rebuild cost: a manifest is
 * damaged if it is lost itself, names a lost blob, or is an index with a damaged child (or one
 * whose bytes cannot be read); a tag is lost with its manifest. `readManifest` answers a
 * manifest's bytes, or undefined if they cannot be read.
 */
export async function lossesOf(meta: MetadataStore, lost: ReadonlySet<string>, readManifest: (digest: string) => Promise<Buffer | undefined>): Promise<RepositoryLoss[]> {
  const registry = new RegistryMetadata(meta);
  const losses = new Map<string, RepositoryLoss>();
  const lossOf = (repository: string) => losses.get(repository) ?? losses.set(repository, { repository, blobs: [], tags: [] }).get(repository)!;
  for await (const { repository, digest } of registry.scanBlobLinks()) if (lost.has(digest)) lossOf(repository).blobs.push(digest);

  // Each manifest's children and blobs, read once whichever repositories link it.
  const named = new Map<string, { children: string[]; blobs: string[] } | undefined>();
  const links: [string, string][] = [];
  for await (const { repository, digest } of registry.scanManifests()) {
    if (lost.has(digest)) lossOf(repository).blobs.push(digest);
    links.push([repository, digest]);
    if (named.has(digest)) continue;
    const bytes = lost.has(digest) ? undefined : await readManifest(digest);
    try {
      const parsed = bytes === undefined ? undefined : parseManifest(bytes, undefined);
      named.set(digest, parsed === undefined ? undefined : { children: parsed.manifests.map((m) => m.digest), blobs: parsed.blobs.map((b) => b.digest) });
    } catch {
      named.set(digest, undefined);
    }
  }
  const damaged = new Map<string, boolean>();
  const isDamaged = (digest: string, seen: Set<string>): boolean => {
    const known = damaged.get(digest);
    if (known !== undefined) return known;
    if (seen.has(digest)) return false;
    seen.add(digest);
    const parts = named.get(digest);
    const result = lost.has(digest) || parts === undefined || parts.blobs.some((blob) => lost.has(blob)) || parts.children.some((child) => named.has(child) && isDamaged(child, seen));
    damaged.set(digest, result);
    return result;
  };
  for (const [repository, digest] of links) {
    if (!isDamaged(digest, new Set())) continue;
    const tags = await registry.tagsOf(repository, digest);
    if (tags.length > 0) lossOf(repository).tags.push(...tags);
  }
  return [...losses.values()].sort((a, b) => (a.repository < b.repository ? -1 : 1));
}
