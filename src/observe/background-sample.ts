export interface BackgroundSampleOptions {
  /** Least time between two samples (default 30 s). */
  minIntervalMs?: number;
  /**
   * A sample is taken at least this often even when `changes` did not move (default 10 min):
   * other processes on the same store (frontends on one Redis, a `docker-dedup gc`) change it too.
   */
  maxAgeMs?: number;
  /** A number that moves whenever this process changed what is sampled (default: never moves). */
  changes?: () => number;
  /** One line when sampling starts failing, one when it works again, naming `what` is sampled. */
  log?: (line: string) => void;
  what?: string;
  now?: () => number;
}

/**
 * The latest value of something costly to compute (the store's totals walk every recipe and
 * chunk entry), taken in the background so that reading it costs nothing: at start, then after
 * this process changed something, at most every `minIntervalMs` and never more often than ten
 * times the last sample took (so that sampling a huge store keeps under a tenth of a core), and
 * at least every `maxAgeMs`. Readers get the last value that was taken, and when.
 */
export class BackgroundSample<T> {
  readonly #take: () => Promise<T>;
  readonly #minIntervalMs: number;
  readonly #maxAgeMs: number;
  readonly #changes: () => number;
  readonly #log: (line: string) => void;
  readonly #what: string;
  readonly #now: () => number;
  #latest: { value: T; at: number; seconds: number } | undefined;
  #changesSeen = Number.NaN;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #failing = false;
  #running: Promise<void> | undefined;
  /** The sample that follows the one under way, shared by whoever asked meanwhile. */
  #next: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(take: () => Promise<T>, options: BackgroundSampleOptions = {}) {
    this.#take = take;
    this.#minIntervalMs = options.minIntervalMs ?? 30_000;
    this.#maxAgeMs = options.maxAgeMs ?? 600_000;
    this.#changes = options.changes ?? (() => 0);
    this.#log = options.log ?? (() => undefined);
    this.#what = options.what ?? "a sample";
    this.#now = options.now ?? Date.now;
  }

  /** The last value taken, when (ms since the epoch) and how long taking it took; undefined before the first. */
  get latest(): { value: T; at: number; seconds: number } | undefined {
    return this.#latest;
  }

  /** Takes a first sample now and looks every `minIntervalMs` whether another is due. */
  start(): void {
    void this.refresh();
    this.#timer = setInterval(() => {
      if (this.#due()) void this.refresh();
    }, this.#minIntervalMs);
    this.#timer.unref();
  }

  /** Takes a sample that starts now or later (never one under way, which may have missed what the caller just did); resolves when it is in. */
  refresh(): Promise<void> {
    if (this.#running === undefined) {
      this.#running = this.#sample().finally(() => (this.#running = undefined));
      return this.#running;
    }
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.refresh();
    });
    return this.#next;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#next;
    await this.#running;
  }

  #due(): boolean {
    const since = this.#now() - this.#lastAttempt;
    const spacing = Math.max(this.#minIntervalMs, 10 * 1000 * (this.#latest?.seconds ?? 0));
    if (since < spacing) return false;
    return this.#changes() !== this.#changesSeen || since >= this.#maxAgeMs || this.#failing;
  }

  async #sample(): Promise<void> {
    const changes = this.#changes();
    const started = this.#now();
    this.#lastAttempt = started;
    try {
      const value = await this.#take();
      this.#latest = { value, at: this.#now(), seconds: (this.#now() - started) / 1000 };
      this.#changesSeen = changes;
      if (this.#failing) this.#log(`sampling ${this.#what} works again`);
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) this.#log(`sampling ${this.#what} failed (the last sample stays): ${(error as Error).message}`);
      this.#failing = true;
    }
  }
}
