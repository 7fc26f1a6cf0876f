import type { BlobService } from "../layers/blob-service.js";
import type { UntaggedRetention } from "../registry/retention.js";
import type { Store } from "../store/types.js";
import { collectGarbage, DEFAULT_MIN_LIVE_SHARE, describeCollection } from "./gc.js";

/**
 * serve's garbage collection: every `intervalMs`, one collection (never two at once), with the
 * retention of untagged manifests when its rules are set; its report logged; stop() waits for
 * the one under way.
 */
export function scheduleCollections(
  blobs: BlobService,
  store: Store,
  { intervalMs, graceMs, untagged }: { intervalMs: number; graceMs: number; untagged: UntaggedRetention },
  log: (line: string) => void,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= (async () => {
      try {
        const collection = await collectGarbage(blobs, store, { graceMs, dryRun: false, minLiveShare: DEFAULT_MIN_LIVE_SHARE, untagged });
        const { retention, links, report } = collection;
        if (retention.manifests.length + links.blobLinks + report.blobs.doomed + report.blobs.deleted + report.chunks.deleted + report.runs.runs + report.packs.rewritten > 0) {
          for (const line of describeCollection(collection, false).trim().split("\n")) log(`gc: ${line}`);
        }
      } catch (error) {
        log(`gc: failed, to be tried again at the next interval: ${(error as Error).message}`);
      } finally {
        running = undefined;
      }
    })();
  };
  const timer = intervalMs > 0 ? setInterval(run, intervalMs) : undefined;
  timer?.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
