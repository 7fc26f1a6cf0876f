import type { BlobService } from "../layers/blob-service.js";
import { registryRoots } from "../registry/gc-roots.js";
import type { Store } from "../store/types.js";
import { DEFAULT_MIN_LIVE_SHARE, describeCollection } from "./gc.js";

/**
 * serve's garbage collection: every `intervalMs`, one collection (never two at once), its report
 * logged; stop() waits for the one under way.
 */
export function scheduleCollections(blobs: BlobService, store: Store, intervalMs: number, graceMs: number, log: (line: string) => void): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const run = () => {
    running ??= (async () => {
      try {
        const report = await blobs.collect({ roots: await registryRoots(store), graceMs, dryRun: false, minLiveShare: DEFAULT_MIN_LIVE_SHARE });
        if (report.blobs.doomed + report.blobs.deleted + report.chunks.deleted + report.packs.rewritten > 0) {
          for (const line of describeCollection(report, false).trim().split("\n")) log(`gc: ${line}`);
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
