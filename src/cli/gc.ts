import type { Command, Option } from "commander";
import { parseDuration } from "../config/duration.js";
import { DedupError } from "../errors.js";
import type { CollectReport } from "../layers/gc.js";
import { registryRoots } from "../registry/gc-roots.js";
import { openStore, storeLocation } from "../store/open.js";
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
    .action(async (flags: { store?: string; dryRun?: boolean; grace: string; minLiveShare: string }) => {
      const minLiveShare = Number(flags.minLiveShare);
      if (!(minLiveShare >= 0 && minLiveShare <= 1)) throw new DedupError("INPUT_INVALID", `bad --min-live-share "${flags.minLiveShare}": expected a fraction from 0 to 1`);
      const graceMs = parseDuration(flags.grace, "--grace");
      const store = await openStore(storeLocation(flags.store));
      await usingBlobs(store, async (blobs) => {
        const report = await blobs.collect({ roots: await registryRoots(store), graceMs, dryRun: flags.dryRun ?? false, minLiveShare });
        process.stdout.write(describeCollection(report, flags.dryRun ?? false));
      });
    });
}

/** A collection's report for people, one line per kind. */
export function describeCollection(r: CollectReport, dryRun: boolean): string {
  const would = dryRun ? " (dry run: nothing changed)" : "";
  return [
    `blobs: ${r.blobs.live} needed, ${r.blobs.doomed} doomed now, ${r.blobs.broughtBack} brought back, ${r.blobs.deleted} deleted (${formatBytes(r.blobs.deletedBytes)})${would}`,
    `chunks: ${r.chunks.live} needed, ${r.chunks.doomed} doomed now, ${r.chunks.broughtBack} brought back, ${r.chunks.deleted} deleted (${formatBytes(r.chunks.deletedBytes)} stored)`,
    `packs: ${r.packs.rewritten} rewritten, ${formatBytes(r.packs.freedBytes)} given back`,
    "",
  ].join("\n");
}
