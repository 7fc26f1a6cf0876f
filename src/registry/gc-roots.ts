import type { BlobService } from "../layers/blob-service.js";
import type { MetadataStore } from "../store/types.js";
import type { BlobLink, ManifestRecord, RegistryMetadata } from "./metadata.js";
import { manifestsOf, namedBlobs, parseAll, Unreadable } from "./repository-manifests.js";
import { UploadRecords } from "./upload-record.js";

/**
 * The blobs the registry needs, for garbage collection. Per repository: every manifest it links;
 * every blob it links that one of those manifests names (config, layers; an index's children
 * are manifests, linked in their own right; a `subject` is a manifest too, kept by its own link
 * if the repository has it, and holds nothing more); every blob it linked within the grace
 * period, as a push uploads its layers before the manifest that names them, and a mount links
 * before it too. Besides: every part of an upload session still in the store (expired sessions
 * are deleted by the sessions' own sweep, and their parts then stop being roots).
 *
 * A blob link older than the grace period that no manifest of its repository names is removed
 * here, before the store's collection dooms the blob (the registry never answers for a blob whose
 * chunks are going), and a repository left empty leaves the catalog. A blob a manifest names but
 * its repository no longer links (a client deleted the link) is no root: nothing could serve it.
 *
 * Races with pushes, all losing nothing a manifest names:
 * - a link written again since the look (an upload or mount of the same blob) is left;
 * - a manifest pushed since the look that names a removed link's blob gets the link back here,
 *   the manifests being read again after the removals;
 * - a manifest PUT that checked its links before a removal here and is stored after that second
 *   read links them again itself (manifests.ts), and the blob, doomed meanwhile, is brought back
 *   by its next read or collection (layers/gc.ts);
 * - a push that found a blob by HEAD just before its link went is refused MANIFEST_BLOB_UNKNOWN
 *   and uploads it again.
 * A repository with a manifest the store cannot rebuild or parse keeps every link (`skipped`).
 */
export interface RootsRun {
  now: number;
  /** Links younger than this are kept whatever names them. */
  graceMs: number;
  /** Report only: change nothing. */
  dryRun: boolean;
}

export interface RegistryRoots {
  roots: Set<string>;
  /** Blob links removed (in a dry run: that would be). */
  blobLinks: number;
  /** Repositories whose links were all kept, and why. */
  skipped: string[];
}

export async function registryRoots(registry: { blobs: BlobService; meta: RegistryMetadata; store: MetadataStore & { sync(): Promise<void> } }, run: RootsRun): Promise<RegistryRoots> {
  const { blobs, meta } = registry;
  const result: RegistryRoots = { roots: new Set(), blobLinks: 0, skipped: [] };
  // From the links themselves, not the catalog: a link is a root even if its catalog entry is missing.
  const repositories = new Map<string, { links: Map<string, BlobLink>; manifests: Map<string, ManifestRecord> }>();
  const of = (name: string) => repositories.get(name) ?? repositories.set(name, { links: new Map(), manifests: new Map() }).get(name)!;
  for await (const { repository, digest, link } of meta.scanBlobLinks()) of(repository).links.set(digest, link);
  for await (const { repository, digest, record } of meta.scanManifests()) of(repository).manifests.set(digest, record);

  for (const [name, { links, manifests }] of repositories) {
    for (const digest of manifests.keys()) result.roots.add(digest);
    const stale = new Map<string, BlobLink>();
    for (const [digest, link] of links) {
      if (isYoung(link, run)) result.roots.add(digest);
      else stale.set(digest, link);
    }
    if (stale.size === 0) continue;
    try {
      result.blobLinks += await pruneLinks(blobs, meta, name, manifests, stale, run, result.roots);
    } catch (error) {
      if (!(error instanceof Unreadable)) throw error;
      for (const digest of stale.keys()) result.roots.add(digest);
      result.skipped.push(`${name}: ${error.message}`);
    }
  }
  for await (const { record } of new UploadRecords(registry.store).scan()) for (const part of record?.parts ?? []) result.roots.add(part.digest);
  return result;
}

function isYoung(link: BlobLink, run: RootsRun): boolean {
  return (link.linked ?? 0) > run.now - run.graceMs;
}

/** Removes the `stale` links no manifest names, adding the others to `roots`; how many went. */
async function pruneLinks(
  blobs: BlobService,
  meta: RegistryMetadata,
  name: string,
  manifests: Map<string, ManifestRecord>,
  stale: Map<string, BlobLink>,
  run: RootsRun,
  roots: Set<string>,
): Promise<number> {
  const parsed = await parseAll(blobs, manifests);
  const named = namedBlobs(parsed.values());
  const removed = new Map<string, BlobLink>();
  for (const [digest, seen] of stale) {
    if (named.has(digest)) {
      roots.add(digest);
      continue;
    }
    if (run.dryRun) {
      removed.set(digest, seen);
      continue;
    }
    const current = await meta.blobLink(name, digest);
    if (current === undefined) continue;
    if (current.linked !== seen.linked) {
      roots.add(digest);
      continue;
    }
    await meta.unlinkBlob(name, digest);
    removed.set(digest, current);
  }
  if (run.dryRun || removed.size === 0) return removed.size;

  // Manifests pushed since the first look keep what they name.
  const now = await manifestsOf(meta, name);
  for (const digest of now.keys()) roots.add(digest);
  let renamed: Set<string>;
  try {
    renamed = namedBlobs((await parseAll(blobs, now, parsed)).values());
  } catch (error) {
    if (!(error instanceof Unreadable)) throw error;
    renamed = new Set(removed.keys());
  }
  for (const [digest, link] of removed) {
    if (!renamed.has(digest)) continue;
    await meta.linkBlob(name, digest, link);
    roots.add(digest);
    removed.delete(digest);
  }
  await meta.dropIfEmpty(name);
  return removed.size;
}
