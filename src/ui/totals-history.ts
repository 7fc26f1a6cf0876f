import type { BlobSummary } from "../layers/summary.js";

/** One sample of the store's totals (layers/summary.ts), at `time` (ms since the epoch). */
export interface TotalsSample {
  time: number;
  blobs: number;
  chunks: number;
  logicalBytes: number;
  chunkedBytes: number;
  uniqueBytes: number;
  storedBytes: number;
  backendBytes: number;
}

export interface TotalsHistoryOptions {
  /** BlobService.summary: a walk of the store's recipes and metadata. */
  summary: () => Promise<BlobSummary>;
  intervalMs: number;
  /** A count that moves whenever this process changes the store (BlobParts.activity): an interval without a change repeats the last walk's figures. */
  changes: () => number;
  /** Samples kept (the oldest dropped first): memory stays bounded however long serve runs. */
  keep: number;
  log: (line: string) => void;
}

/** Other frontends of a shared store change it unseen: the store is walked at least this often. */
const MAX_WALK_AGE_MS = 10 * 60_000;

/**
 * The store's totals over time, for the page: sampled in memory at start and every interval
 * (a minute in serve), never persisted; a restart starts a new history. A sample is a walk of the
 * store (seconds on a large Redis), so one never starts while the last is still running, and an
 * interval in which this process changed nothing repeats the last walk's figures instead.
 */
export class TotalsHistory {
  readonly #options: TotalsHistoryOptions;
  readonly #samples: TotalsSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastWalk: { at: number; changes: number } | undefined;

  constructor(options: TotalsHistoryOptions) {
    this.#options = options;
  }

  start(): void {
    void this.#sample();
    this.#timer = setInterval(() => void this.#sample(), this.#options.intervalMs);
    // Sampling alone keeps no process alive.
    this.#timer.unref();
  }

  /** Takes a sample now (or waits for the one under way). */
  #sample(): Promise<void> {
    this.#running ??= this.#take().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  samples(): readonly TotalsSample[] {
    return this.#samples;
  }

  get intervalMs(): number {
    return this.#options.intervalMs;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  async #take(): Promise<void> {
    const now = Date.now();
    const changes = this.#options.changes();
    const previous = this.#samples[this.#samples.length - 1];
    if (previous !== undefined && this.#lastWalk !== undefined && this.#lastWalk.changes === changes && now - this.#lastWalk.at < MAX_WALK_AGE_MS) {
      this.#keep({ ...previous, time: now });
      return;
    }
    try {
      const s = await this.#options.summary();
      this.#lastWalk = { at: now, changes };
      this.#keep({ time: now, blobs: s.blobs, chunks: s.chunks, logicalBytes: s.logicalBytes, chunkedBytes: s.chunkedBytes, uniqueBytes: s.uniqueBytes, storedBytes: s.storedBytes, backendBytes: s.backendBytes });
    } catch (error) {
      this.#options.log(`web page: sampling the store's totals failed: ${(error as Error).message}`);
    }
  }

  #keep(sample: TotalsSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.#options.keep) this.#samples.shift();
  }
}
