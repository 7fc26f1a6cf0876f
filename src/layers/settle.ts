import type { ChunkId } from "../store/chunk-id.js";
import { isUnsettled, markedSettled, plainLength } from "../store/codec.js";
import type { Store } from "../store/types.js";
import type { CodecPool } from "./codec-pool.js";

/** The level runs are compressed again at: the benchmark dataset's store then takes 7% less disk than at level 3 (BENCHMARKS.md). */
export const SETTLED_LEVEL = 9;
/** Runs compressed again per batch: one, about 4 MiB, what a codec thread's buffers hold. */
const SETTLE_BATCH = 1;

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
  for (let at = 0; at < runs.length && spent < budgetBytes; at += SETTLE_BATCH) {
    const ids = runs.slice(at, at + SETTLE_BATCH);
    const found = await store.getChunks(ids);
    const todo = ids.flatMap((id, i) => {
      const stored = found[i];
      const length = stored === undefined || !isUnsettled(stored) ? undefined : plainLength(stored);
      return length === undefined ? [] : [{ id, stored: stored!, length }];
    });
    if (todo.length === 0) continue;
    const plain = await codec.decodeChecked(todo.map((t) => t.stored), todo.map((t) => t.id), todo.map((t) => t.length), owner);
    const intact = todo.flatMap((t, i) => (plain[i] === undefined ? [] : [{ ...t, plain: plain[i]! }]));
    if (intact.length === 0) continue;
    const { stored, release } = await codec.encode(intact.map((t) => t.plain), { codec: "zstd", level: SETTLED_LEVEL }, owner);
    const settled = intact.map((t, i) => ({ id: t.id, data: markedSettled(stored[i]!.length < t.stored.length ? stored[i]! : t.stored) }));
    release();
    await store.replaceChunks(settled);
    for (const [i, t] of intact.entries()) {
      report.runs++;
      report.savedBytes += t.stored.length - settled[i]!.data.length;
      spent += t.length;
    }
  }
  return report;
}
