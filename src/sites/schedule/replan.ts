import { DedupError } from "../../errors.js";
import { type PlanOptions, planTransfer } from "./schedule.js";
import { type MissingChunks, NO_SOURCE, type TransferPlan } from "./transfer.js";

/**
 * Where each chunk of a running transfer stands: the index of the site it is in flight from, or
 * one of these two.
 */
export const CHUNK_WAITING = NO_SOURCE;
export const CHUNK_RECEIVED = 254;

/**
 * Plans again, mid-transfer, with updated bandwidth estimates: this is how a slow link gets
 * part of its share moved, and a dead one (bandwidth 0) all of it (going beyond Nitro, which
 * planned once). Chunks in flight from a live site stay where they are and count as that site's
 * backlog, so a slow link with many chunks queued gets fewer new ones; chunks in flight from a
 * site without bandwidth will not arrive and are planned again, with the waiting ones.
 * In the returned plan, `source` is NO_SOURCE for chunks received or left in flight.
 */
export function replan(
  chunks: MissingChunks,
  state: Uint8Array,
  bandwidth: ArrayLike<number>,
  options: Omit<PlanOptions, "only">,
): TransferPlan {
  if (state.length !== chunks.sizes.length) throw new DedupError("INPUT_INVALID", "replan: one state per chunk is needed");
  const backlog = new Float64Array(bandwidth.length);
  const pending: number[] = [];
  for (let chunk = 0; chunk < state.length; chunk++) {
    const site = state[chunk]!;
    if (site === CHUNK_RECEIVED) continue;
    if (site === CHUNK_WAITING || !(bandwidth[site]! > 0)) pending.push(chunk);
    else backlog[site]! += chunks.sizes[chunk]!;
  }
  return planTransfer(chunks, { bandwidth, backlog }, { ...options, only: Uint32Array.from(pending) });
}
