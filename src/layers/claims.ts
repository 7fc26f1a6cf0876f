import type { ChunkId } from "../store/chunk-id.js";
import type { ChunkStore } from "../store/types.js";

/**
 * Who writes which chunk, among the ingests of one process (threads included, through
 * ingest-pool.ts). Two rules follow from it:
 *  - a chunk that several concurrent blobs share is written once;
 *  - a blob's recipe is written only after every chunk it names is committed, even the chunks
 *    another ingest is writing: the recipe waits for them (`awaitIdle`) instead of trusting them.
 * A writer always writes its own claims before waiting for anyone else's, so waits cannot cycle.
 */
export type Claim = "write" | "present" | "busy";

export interface ChunkClaimer {
  /** "write": the caller must write it and then `settle`; "present": committed; "busy": another writer has it. */
  claim(ids: readonly ChunkId[]): Promise<Claim[]>;
  /** The caller is done with its claims: committed, or failed (waiters then find them missing). */
  settle(ids: readonly ChunkId[]): void;
  /** Waits until no one is writing these chunks; then says which are committed. */
  awaitIdle(ids: readonly ChunkId[]): Promise<boolean[]>;
}

export class ChunkClaims implements ChunkClaimer {
  readonly #store: ChunkStore;
  readonly #writing = new Map<string, { done: Promise<void>; finish: () => void }>();

  constructor(store: ChunkStore) {
    this.#store = store;
  }

  async claim(ids: readonly ChunkId[]): Promise<Claim[]> {
    const out: Claim[] = new Array(ids.length);
    const unknown: number[] = [];
    ids.forEach((id, i) => {
      const key = id.toString("latin1");
      if (this.#writing.has(key)) {
        out[i] = "busy";
        return;
      }
      // Claimed before the store is asked, so a second claim in the meantime sees it busy.
      let finish!: () => void;
      const done = new Promise<void>((resolve) => (finish = resolve));
      this.#writing.set(key, { done, finish });
      unknown.push(i);
    });
    let present: boolean[];
    try {
      present = await this.#store.hasChunks(unknown.map((i) => ids[i]!));
    } catch (error) {
      this.settle(unknown.map((i) => ids[i]!));
      throw error;
    }
    unknown.forEach((i, k) => {
      if (present[k]) {
        out[i] = "present";
        this.settle([ids[i]!]);
      } else {
        out[i] = "write";
      }
    });
    return out;
  }

  settle(ids: readonly ChunkId[]): void {
    for (const id of ids) {
      const key = id.toString("latin1");
      this.#writing.get(key)?.finish();
      this.#writing.delete(key);
    }
  }

  async awaitIdle(ids: readonly ChunkId[]): Promise<boolean[]> {
    for (const id of ids) await this.#writing.get(id.toString("latin1"))?.done;
    return this.#store.hasChunks(ids);
  }
}
