import type { Command, Option } from "commander";
import { parseDuration } from "../config/duration.js";
import { DedupError } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";
import type { CollectReport } from "../layers/gc.js";
import { registryRoots, type RegistryRoots } from "../registry/gc-roots.js";
import { RegistryMetadata } from "../registry/metadata.js";
import { expireUntagged, type RetentionReport, type UntaggedRetention } from "../registry/retention.js";
import { openStore, storeLocation } from "../store/open.js";
import type { Store } from "../store/types.js";
import { usingBlobs } from "./blobs.js";
import { formatBytes } from "./progress.js";

export const DEFAULT_GC_GRACE = "1h";
export const DEFAULT_MIN_LIVE_SHARE = 0.5;

export function gcCommand(command: Command, storeOption: Option): void {
  command
    .description("delete what no repository, upload or pin needs, and give back the disk it held; safe beside a running serve")
    .addOption(storeOption)
    .option("--dry-run", "say what would go, change nothing")
    .option("--grace <duration>", "how long something stays unneeded before it goes: a push in flight never loses a chunk", DEFAULT_GC_GRACE)
    .option("--min-live-share <fraction>", "rewrite packs whose live share is under this", String(DEFAULT_MIN_LIVE_SHARE))
    .option("--keep-untagged <n>", "also remove untagged manifests, but for the N most recently pushed of each repository")
    .option("--untagged-older-than <duration>", "also remove untagged manifests pushed longer ago than this (with --keep-untagged: past both)")
    .action(async (flags: { store?: string; dryRun?: boolean; grace: string; minLiveShare: string; keepUntagged?: string; untaggedOlderThan?: string }) => {
      const minLiveShare = Number(flags.minLiveShare);
      if (!(minLiveShare >= 0 && minLiveShare <= 1)) throw new DedupError("INPUT_INVALID", `bad --min-live-share "${flags.minLiveShare}": expected a fraction from 0 to 1`);
      const keepLast = flags.keepUntagged === undefined ? undefined : Number(flags.keepUntagged);
      if (keepLast !== undefined && !(Number.isInteger(keepLast) && keepLast >= 0)) throw new DedupError("INPUT_INVALID", `bad --keep-untagged "${flags.keepUntagged}": expected a whole number >= 0`);
      const untagged = untaggedRetention(keepLast, flags.untaggedOlderThan, "--untagged-older-than");
      const graceMs = parseDuration(flags.grace, "--grace");
      const dryRun = flags.dryRun ?? false;
      const store = await openStore(storeLocation(flags.store));
      await usingBlobs(store, async (blobs) => {
        const collection = await collectGarbage(blobs, store, { graceMs, dryRun, minLiveShare, untagged });
        process.stdout.write(collection.retention.manifests.map((m) => `untagged manifest ${m.repository}@${m.digest} (pushed ${m.pushed === undefined ? "at an unknown time" : new Date(m.pushed).toISOString()})\n`).join(""));
        process.stdout.write(describeCollection(collection, dryRun));
      });
    });
}

/** The retention rules from their settings' values (the age as a duration's text, or seconds). */
export function untaggedRetention(keepLast: number | undefined, olderThan: string | number | undefined, what: string): UntaggedRetention {
  return {
    ...(keepLast === undefined ? {} : { keepLast }),
    ...(olderThan === undefined ? {} : { keepNewerThanMs: parseDuration(String(olderThan), what) }),
  };
}

export interface GarbageCollection {
  retention: RetentionReport;
  links: Omit<RegistryRoots, "roots">;
  report: CollectReport;
}

/**
 * One garbage collection as `gc` and serve's schedule run it, in this order: untagged manifests
 * past the retention rules removed; the registry's roots read, blob links no manifest names
 * removed once older than the grace period (registry/gc-roots.ts); then the store collected, so
 * the blobs whose links went, and the removed manifests, lose their roots in the same run. A dry
 * run's collection still counts the manifests it would have removed as roots.
 */
export async function collectGarbage(
  blobs: BlobService,
  store: Store,
  options: { graceMs: number; dryRun: boolean; minLiveShare: number; untagged: UntaggedRetention; now?: number },
): Promise<GarbageCollection> {
  const now = options.now ?? Date.now();
  const meta = new RegistryMetadata(store);
  const run = { now, graceMs: options.graceMs, dryRun: options.dryRun };
  const retention = await expireUntagged({ blobs, meta }, options.untagged, run);
  const { roots, ...links } = await registryRoots({ blobs, meta, store }, run);
  const report = await blobs.collect({ roots, graceMs: options.graceMs, dryRun: options.dryRun, minLiveShare: options.minLiveShare, now });
  return { retention, links, report };
}

/** A collection's report for people, one line per kind (the untagged manifests' only when there were any). */
export function describeCollection({ retention, links, report: r }: GarbageCollection, dryRun: boolean): string {
  const would = dryRun ? " (dry run: nothing changed)" : "";
  const untagged = retention.manifests.length + retention.skipped.length === 0 ? [] : [`untagged manifests: ${retention.manifests.length} removed${would}`];
  return [
    ...untagged,
    ...retention.skipped.map((why) => `untagged manifests: repository skipped, ${why}`),
    `blob links: ${links.blobLinks} named by no manifest and older than the grace period, removed${would}`,
    ...links.skipped.map((why) => `blob links: repository skipped, ${why}`),
    `blobs: ${r.blobs.live} needed, ${r.blobs.doomed} doomed now, ${r.blobs.broughtBack} brought back, ${r.blobs.deleted} deleted (${formatBytes(r.blobs.deletedBytes)})${would}`,
    `chunks: ${r.chunks.live} needed, ${r.chunks.doomed} doomed now, ${r.chunks.broughtBack} brought back, ${r.chunks.deleted} deleted (${formatBytes(r.chunks.deletedBytes)} stored)`,
    `runs: ${r.runs.runs} compressed again, ${formatBytes(r.runs.savedBytes)} saved`,
    `packs: ${r.packs.rewritten} rewritten, ${formatBytes(r.packs.freedBytes)} given back`,
    "",
  ].join("\n");
}
