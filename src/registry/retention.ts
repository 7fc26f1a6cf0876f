import type { BlobService } from "../layers/blob-service.js";
import { removeManifest } from "./manifests.js";
import type { ManifestRecord, RegistryMetadata } from "./metadata.js";
import { manifestsOf, parseAll, Unreadable } from "./repository-manifests.js";

/**
 * The retention of untagged manifests, as zot and Harbor offer it; off unless a rule is given.
 * Per repository, a manifest is *held* when a tag points at it, when it was pushed within the
 * grace period (a push in flight: an index's children go up before the index, a tag after its
 * manifest), or when the rules below keep it; and so is, in turn, everything a held manifest
 * holds on to: an index's children, and the manifests whose `subject` it is (signatures, SBOMs:
 * a referrer lives as long as its subject, and goes with it). The rules judge the untagged
 * manifests nothing else in the repository holds on to (not an index's child, not a referrer
 * of a manifest there): keep the `keepLast` most recently pushed, and those pushed less than
 * `keepNewerThanMs` ago; with both rules, either keeps a manifest. Whatever is not held is
 * removed the way a DELETE removes it (manifests.ts: tags, referrers entry, link). The blob links
 * only removed manifests named then go by garbage collection's own rule (gc-roots.ts: a link no
 * manifest names, older than the grace period), which runs right after, in the same collection.
 *
 * A record written before push times were kept counts as pushed at the epoch. A manifest pushed
 * or tagged again between the look and the removal stays.
 */
export interface UntaggedRetention {
  /** Keep the N most recently pushed untagged manifests of each repository. */
  keepLast?: number;
  /** Keep untagged manifests pushed less than this long ago (ms). */
  keepNewerThanMs?: number;
}

export interface RetentionRun {
  now: number;
  /** Nothing pushed within this long is removed. */
  graceMs: number;
  /** Report only: change nothing. */
  dryRun: boolean;
}

export interface RemovedManifest {
  repository: string;
  digest: string;
  /** When it was last pushed (ms since the epoch), if known. */
  pushed?: number;
}

export interface RetentionReport {
  manifests: RemovedManifest[];
  /** Repositories left alone, and why (a manifest the store cannot rebuild). */
  skipped: string[];
}

export function retentionIsOn(policy: UntaggedRetention): boolean {
  return policy.keepLast !== undefined || policy.keepNewerThanMs !== undefined;
}

/** Applies the policy to every repository (nothing when it is off). */
export async function expireUntagged(registry: { blobs: BlobService; meta: RegistryMetadata }, policy: UntaggedRetention, run: RetentionRun): Promise<RetentionReport> {
  const report: RetentionReport = { manifests: [], skipped: [] };
  if (!retentionIsOn(policy)) return report;
  const names: string[] = [];
  for await (const name of registry.meta.repositories()) names.push(name);
  for (const name of names) {
    try {
      report.manifests.push(...(await expireRepository(registry, name, policy, run)));
    } catch (error) {
      if (!(error instanceof Unreadable)) throw error;
      report.skipped.push(`${name}: ${error.message}`);
    }
  }
  return report;
}

async function expireRepository(
  { blobs, meta }: { blobs: BlobService; meta: RegistryMetadata },
  name: string,
  policy: UntaggedRetention,
  run: RetentionRun,
): Promise<RemovedManifest[]> {
  const records = await manifestsOf(meta, name);
  const tagged = new Set<string>();
  for await (const [, digest] of meta.tags(name)) tagged.add(digest);
  const pushed = (record: ManifestRecord) => record.pushed ?? 0;
  const young = (record: ManifestRecord) => pushed(record) > run.now - run.graceMs;
  // Most repositories have every manifest tagged: their manifests need not be read.
  if ([...records].every(([digest, record]) => tagged.has(digest) || young(record))) return [];

  const parsed = await parseAll(blobs, records);
  // What holding a manifest holds on to: an index's children, and the manifests that refer to it.
  const holds = new Map<string, string[]>();
  const link = (from: string, to: string) => holds.set(from, [...(holds.get(from) ?? []), to]);
  for (const [digest, manifest] of parsed) {
    for (const child of manifest.manifests) if (records.has(child.digest)) link(digest, child.digest);
    if (manifest.subject !== undefined && records.has(manifest.subject.digest)) link(manifest.subject.digest, digest);
  }
  const held = new Set<string>();
  const hold = (start: string) => {
    const stack = [start];
    for (let digest = stack.pop(); digest !== undefined; digest = stack.pop()) {
      if (held.has(digest)) continue;
      held.add(digest);
      stack.push(...(holds.get(digest) ?? []));
    }
  };
  for (const [digest, record] of records) if (tagged.has(digest) || young(record)) hold(digest);
  const followers = new Set([...holds.values()].flat());
  const judged = [...records]
    .filter(([digest]) => !held.has(digest) && !followers.has(digest))
    .sort(([da, a], [db, b]) => pushed(b) - pushed(a) || (da < db ? -1 : 1));
  judged.forEach(([digest, record], rank) => {
    const byCount = policy.keepLast !== undefined && rank < policy.keepLast;
    const byAge = policy.keepNewerThanMs !== undefined && pushed(record) > run.now - policy.keepNewerThanMs;
    if (byCount || byAge) hold(digest);
  });

  // Indexes before their children, subjects before their referrers: a crash between two removals
  // leaves no kept manifest naming a removed one, and the next run finishes the work.
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (digest: string) => {
    if (held.has(digest) || seen.has(digest)) return;
    seen.add(digest);
    order.push(digest);
    for (const next of holds.get(digest) ?? []) visit(next);
  };
  for (const [digest] of judged) visit(digest);
  for (const digest of records.keys()) visit(digest);

  const removed: RemovedManifest[] = [];
  for (const digest of order) {
    const record = records.get(digest)!;
    if (!run.dryRun) {
      const current = await meta.getManifest(name, digest);
      if (current === undefined || current.pushed !== record.pushed || (await meta.tagsOf(name, digest)).length > 0) continue;
      await removeManifest(meta, name, digest, current);
    }
    removed.push({ repository: name, digest, ...(record.pushed === undefined ? {} : { pushed: record.pushed }) });
  }
  if (removed.length > 0 && !run.dryRun) await meta.dropIfEmpty(name);
  return removed;
}
