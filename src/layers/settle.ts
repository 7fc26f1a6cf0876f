import type { ChunkId } from "../store/chunk-id.js";
import { isUnsettled, markedSettled, plainLength } from "../store/codec.js";
import type { Store } from "../store/types.js";
import type { CodecPool } from "./codec-pool.js";

/** The level runs are compressed again at: the benchmark dataset's store then takes 7% less disk than at level 3 (BENCHMARKS.md). */
export const SETTLED_LEVEL = 9;
export interface SettleReport {
  runs: number;
  savedBytes: number;
}

/**
 * Compresses runs (store/codec.ts) again at SETTLED_LEVEL, once each: ingest writes them at the
 * store's level, which pushes can afford (level 9 costs four times the CPU). Each run is decoded
 * and checked against its id on the codec threads, compressed there, and written in place of the
 * old form (marked settled either way, so it is not tried again); a damaged run is left for
 * `verify` to find. Stops after about `budgetBytes` of plain bytes. The old forms' space comes
 * back when their packs are compacted.
 */
export async function settleRuns(store: Store, runs: readonly ChunkId[], codec: CodecPool, budgetBytes: number): Promise<SettleReport> {
  const report: SettleReport = { runs: 0, savedBytes: 0 };
  const owner = {};
  let spent = 0;
  // One run at a time: about 4 MiB, what a codec thread's buffers hold.
  for (const id of runs) {
    if (spent >= budgetBytes) break;
    const [stored] = await store.getChunks([id]);
    const length = stored === undefined || !isUnsettled(stored) ? undefined : plainLength(stored);
    if (length === undefined) continue;
    const [plain] = await codec.decodeChecked([stored!], [id], [length], owner);
    if (plain === undefined) continue;
    const deeper = await codec.encode([plain], { codec: "zstd", level: SETTLED_LEVEL }, owner);
    const settled = markedSettled(deeper.stored[0]!.length < stored!.length ? deeper.stored[0]! : stored!);
    deeper.release();
    await store.replaceChunks([{ id, data: settled }]);
    report.runs++;
    report.savedBytes += stored!.length - settled.length;
    spent += length;
  }
  return report;
}
