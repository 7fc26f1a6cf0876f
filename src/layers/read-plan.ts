import { DedupError } from "../errors.js";
import type { ChunkId } from "../store/chunk-id.js";
import { sliceOf } from "../store/codec.js";
import type { Recipe } from "../store/recipe.js";
import { runsNamed } from "../store/runs.js";
import type { Store } from "../store/types.js";
import { decodedBytes } from "./decode-batch.js";
import { MAX_READ_BATCH_CHUNKS } from "./read-batches.js";
import type { ReadParts } from "./reconstruct.js";

/** A chunk of a batch, looked up: from the cache, promised by an earlier batch of the read, or its stored form. */
type Found = { cached: Buffer } | { promised: Promise<Buffer> } | { stored: Uint8Array };

/** Chunks looked at past a batch, for more slices of the runs it decodes: as many as a batch holds at most. */
const LOOK_AHEAD = MAX_READ_BATCH_CHUNKS;

/**
 * The batches of one read, planned one after another and decoded in parallel. A batch's chunks
 * are looked up (cache, else stored form) once the batch before it is planned; then decoded and
 * checked on the codec threads. A run (store/codec.ts) need not line up with the batches of the
 * blob read: one shared with another blob is cut by a batch's end. So the chunks just past a
 * batch that are slices of runs it decodes are decoded with it, and promised to the batch that
 * holds them: each run is decoded once per read where its slices lie close together.
 */
export class ReadPlan {
  readonly #store: Store;
  readonly #recipe: Recipe;
  readonly #parts: ReadParts;
  /** The last chunk the read takes. */
  readonly #last: number;
  /** This read, as the codec pool's fairness counts it. */
  readonly #owner = {};
  /** Chunks decoded by an earlier batch, by their index in the recipe. */
  readonly #promised = new Map<number, Promise<Buffer>>();
  /** Chunks looked up past the batch planned last, from index #carriedFrom. */
  #carried: Found[] = [];
  #carriedFrom = 0;
  #planned: Promise<void> = Promise.resolve();

  constructor(store: Store, recipe: Recipe, last: number, parts: ReadParts) {
    this.#store = store;
    this.#recipe = recipe;
    this.#last = last;
    this.#parts = parts;
  }

  /** Chunks [from, to) of the recipe, decoded, in order; called for consecutive ranges. */
  batch(from: number, to: number): Promise<Buffer[]> {
    const plan = this.#planned.then(() => this.#plan(from, to));
    this.#planned = plan.then(() => undefined);
    this.#planned.catch(() => undefined); // a failed plan fails the batches after it, through this
    return plan.then((chunks) => chunks());
  }

  async #plan(from: number, to: number): Promise<() => Promise<Buffer[]>> {
    const found = await this.#lookUp(from, to, true);
    const runs = new Set(found.map((f) => runOf(f)).filter((run) => run !== undefined));
    // Not lent: what the next batch does not take of it is dropped, never given back.
    const later = runs.size === 0 ? [] : await this.#lookUp(to, Math.min(this.#last + 1, to + LOOK_AHEAD), false);
    this.#carried = later;
    this.#carriedFrom = to;
    const bonus: { index: number; stored: Uint8Array; settle: Deferred }[] = [];
    later.forEach((f, k) => {
      const run = runOf(f);
      if (run === undefined || !runs.has(run)) return;
      const settle = deferred();
      this.#promised.set(to + k, settle.promise);
      bonus.push({ index: to + k, stored: (f as { stored: Uint8Array }).stored, settle });
    });
    const decoding = this.#decode(from, found, bonus);
    decoding.catch(() => undefined); // awaited in order by the read
    return () => decoding;
  }

  /**
   * Chunks [from, to): promised, carried over from the last look past a batch, cached or read;
   * read lent (store/types.ts) when the caller gives back every chunk read.
   */
  async #lookUp(from: number, to: number, lend: boolean): Promise<Found[]> {
    const { ids, lengths, digest } = this.#recipe;
    const found = new Array<Found | undefined>(to - from);
    const toRead: number[] = [];
    for (let i = from; i < to; i++) {
      const promised = this.#promised.get(i);
      const carried = i - this.#carriedFrom >= 0 ? this.#carried[i - this.#carriedFrom] : undefined;
      const cached = promised === undefined && carried === undefined ? this.#parts.cache.get(ids[i]!) : undefined;
      // A cached chunk is the chunk of its id, but a damaged recipe may name the wrong one: its length tells, for free.
      if (cached !== undefined && cached.length !== lengths[i]) throw damaged(this.#recipe, ids[i]!, "does not have the length its recipe gives");
      this.#promised.delete(i);
      found[i - from] = promised !== undefined ? { promised } : (carried ?? (cached === undefined ? undefined : { cached }));
      if (found[i - from] === undefined) toRead.push(i);
    }
    if (toRead.length > 0) {
      const read = await this.#store.getChunks(toRead.map((i) => ids[i]!), { lend });
      toRead.forEach((i, k) => {
        const stored = read[k];
        if (stored === undefined) {
          const chunk = ids[i]!.toString("hex");
          throw new DedupError("CHUNK_MISSING", `chunk ${chunk} of ${digest} is missing`, { digest, chunk });
        }
        found[i - from] = { stored };
      });
    }
    return found as Found[];
  }

  /**
   * A batch's chunks, from index `from`, in order: those stored decoded and checked against their
   * ids (with `bonus`, chunks past the batch from the same runs), and put in the cache (only
   * chunks so checked go there); those promised, as the batch that decodes them settles them.
   */
  async #decode(from: number, found: readonly Found[], bonus: readonly { index: number; stored: Uint8Array; settle: Deferred }[]): Promise<Buffer[]> {
    const { cache, codec } = this.#parts;
    const { ids, lengths } = this.#recipe;
    const out = found.map((f) => ("cached" in f ? f.cached : undefined));
    // A chunk may have entered the cache while it was read: a site puts each chunk it fetches from
    // a peer there, decoded and checked, as the read waiting for it ends. It is not decoded again.
    const toDecode: { index: number; stored: Uint8Array }[] = [];
    found.forEach((f, i) => {
      if (!("stored" in f)) return;
      const again = cache.getAgain(ids[from + i]!);
      if (again === undefined) toDecode.push({ index: from + i, stored: f.stored });
      else {
        out[i] = again;
        this.#store.giveBack?.([f.stored]);
      }
    });
    const own = toDecode.length;
    toDecode.push(...bonus);
    try {
      if (toDecode.length > 0) {
        const stored = toDecode.map((d) => d.stored);
        const freshIds = toDecode.map((d) => ids[d.index]!);
        const freshLengths = toDecode.map((d) => lengths[d.index]!);
        // Into a buffer lent for reuse, unless the cache has room to adopt the batch as it is.
        const lend = !cache.hasRoomFor(decodedBytes(freshLengths));
        const runs = await runsOf(this.#store, stored, this.#recipe);
        const decoding = codec.decodeLent(stored, freshIds, freshLengths, this.#owner, runs, lend);
        // decodeLent took the stored bytes in as it was called: the store may read into them again.
        this.#store.giveBack?.([...stored, ...runs.stored]);
        const { chunks: fresh, lent } = await decoding;
        // A damaged chunk fails the batch it belongs to: this one, or the one promised it.
        bonus.forEach((b, k) => {
          const chunk = fresh[own + k];
          if (chunk === undefined) b.settle.reject(damaged(this.#recipe, ids[b.index]!, "is damaged"));
          else b.settle.resolve(chunk);
        });
        for (let k = 0; k < own; k++) {
          if (fresh[k] === undefined) throw damaged(this.#recipe, freshIds[k]!, "is damaged");
          out[toDecode[k]!.index - from] = fresh[k];
        }
        // The decoded batch's buffer is this read's alone: the cache may keep it rather than a copy.
        const good = fresh.flatMap((chunk, k) => (chunk === undefined ? [] : [k]));
        const adopted = cache.putAll(good.map((k) => freshIds[k]!), good.map((k) => fresh[k]!), { adopt: true });
        if (lent !== undefined && !adopted) this.#parts.loans.lend(lent, good.length);
      }
    } catch (error) {
      for (const b of bonus) b.settle.reject(error as Error);
      throw error;
    }
    for (const [i, f] of found.entries()) if ("promised" in f) out[i] = await f.promised;
    return out as Buffer[];
  }
}

interface Deferred {
  promise: Promise<Buffer>;
  resolve(chunk: Buffer): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: (chunk: Buffer) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<Buffer>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  promise.catch(() => undefined); // its batch may never be read (the read left early)
  return { promise, resolve, reject };
}

/** The run a chunk found stored is a slice of (its id, as a map key), if it is one. */
function runOf(found: Found): string | undefined {
  return "stored" in found ? sliceOf(found.stored)?.run.toString("latin1") : undefined;
}

/** The runs that slices among `stored` name, each once, all of them read, lent (a missing one fails the read). */
async function runsOf(store: Store, stored: readonly Uint8Array[], recipe: Recipe): Promise<{ ids: ChunkId[]; stored: Uint8Array[] }> {
  const { ids, stored: runs } = await runsNamed(store, stored, { lend: true });
  const missing = runs.findIndex((data) => data === undefined);
  if (missing !== -1) {
    const run = ids[missing]!.toString("hex");
    throw new DedupError("CHUNK_MISSING", `run ${run}, which holds chunks of ${recipe.digest}, is missing`, { digest: recipe.digest, chunk: run });
  }
  return { ids, stored: runs as Uint8Array[] };
}

function damaged(recipe: Recipe, id: ChunkId, problem: string): DedupError {
  const chunk = id.toString("hex");
  return new DedupError("CHUNK_CORRUPT", `chunk ${chunk} of ${recipe.digest} ${problem}`, { digest: recipe.digest, chunk });
}
