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
  /**
   * The store's last totals and when they were taken (ms since the epoch), or undefined before
   * the first: serve's background sample (observe/), which /metrics reads too. The history walks
   * nothing itself.
   */
  latest: () => { value: BlobSummary; at: number } | undefined;
  /** How often the history looks for a new sample, also when no page asks. */
  intervalMs: number;
  /** Samples kept (the oldest dropped first): memory stays bounded however long serve runs. */
  keep: number;
}

/**
 * The store's totals over time, for the page: each sample serve's background sampling took
 * (after this process changed the store, at most every 30 s; at least every 10 minutes), kept
 * in memory, never persisted; a restart starts a new history.
 */
export class TotalsHistory {
  readonly #options: TotalsHistoryOptions;
  readonly #samples: TotalsSample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #lastAt: number | undefined;

  constructor(options: TotalsHistoryOptions) {
    this.#options = options;
  }

  start(): void {
    this.#record();
    this.#timer = setInterval(() => this.#record(), this.#options.intervalMs);
    // Sampling alone keeps no process alive.
    this.#timer.unref();
  }

  samples(): readonly TotalsSample[] {
    this.#record();
    return this.#samples;
  }

  get intervalMs(): number {
    return this.#options.intervalMs;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #record(): void {
    const latest = this.#options.latest();
    if (latest === undefined || latest.at === this.#lastAt) return;
    this.#lastAt = latest.at;
    const s = latest.value;
    this.#samples.push({ time: latest.at, blobs: s.blobs, chunks: s.chunks, logicalBytes: s.logicalBytes, chunkedBytes: s.chunkedBytes, uniqueBytes: s.uniqueBytes, storedBytes: s.storedBytes, backendBytes: s.backendBytes });
    if (this.#samples.length > this.#options.keep) this.#samples.shift();
  }
}
