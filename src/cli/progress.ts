/** Where progress goes: a bar redrawn in place on a terminal, whole lines anywhere else. */
export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Default: stderr, so that progress never mixes with a command's output on stdout. */
  out?: ProgressOutput;
  /** Time between two lines when `out` is no terminal (default 10 s): a log shows the work moving without filling up. */
  lineEveryMs?: number;
  /** What is counted: "bytes" (the default, shown in KiB, MiB...) or a plural noun ("blobs"). */
  unit?: string;
  /** The time now, in ms (tests pass a clock of their own). */
  now?: () => number;
}

/** A terminal's bar is drawn at most this often. */
const DRAW_EVERY_MS = 100;
const BAR_WIDTH = 30;

/**
 * Progress of long CLI work (add, import-seed, replicate, verify) on stderr: on a terminal, a
 * one-line bar redrawn in place at most ten times a second; otherwise (a log file, a pipe, CI)
 * one plain line every `lineEveryMs`, only once that much time went by, so that short runs stay
 * quiet. The total may be unknown (verify does not count ahead): then only the count and rate show.
 */
export class Progress {
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #out: ProgressOutput;
  readonly #terminal: boolean;
  readonly #everyMs: number;
  readonly #unit: string;
  readonly #now: () => number;
  readonly #started: number;
  #done = 0;
  #lastShown: number;

  constructor(label: string, total: number | undefined, options: ProgressOptions = {}) {
    this.#label = label;
    this.#total = total !== undefined && total > 0 ? total : undefined;
    this.#out = options.out ?? process.stderr;
    this.#terminal = this.#out.isTTY === true;
    this.#everyMs = options.lineEveryMs ?? 10_000;
    this.#unit = options.unit ?? "bytes";
    this.#now = options.now ?? Date.now;
    this.#started = this.#now();
    // A terminal shows the bar from the first advance; a line waits for a whole interval.
    this.#lastShown = this.#terminal ? -Infinity : this.#started;
  }

  advance(amount: number): void {
    this.update(this.#done + amount);
  }

  /** Sets how much is done (for work that reports its position rather than its steps). */
  update(done: number): void {
    this.#done = done;
    const now = this.#now();
    if (now - this.#lastShown < (this.#terminal ? DRAW_EVERY_MS : this.#everyMs)) return;
    this.#lastShown = now;
    if (this.#terminal) this.#out.write(`\r\x1b[K${this.#describe(now, "bar")}`);
    else this.#out.write(`${this.#describe(now, "line")}\n`);
  }

  /** Clears the bar, so that a line can be written in its place (the next advance draws it again); nothing off a terminal. */
  clearLine(): void {
    if (this.#terminal && this.#lastShown !== -Infinity) this.#out.write("\r\x1b[K");
  }

  #describe(now: number, style: "bar" | "line"): string {
    const seconds = Math.max(0.001, (now - this.#started) / 1000);
    const perSecond = this.#done / seconds;
    const rate = this.#unit === "bytes" ? `${(perSecond / 1e6).toFixed(1)} MB/s` : `${perSecond.toFixed(1)} ${this.#unit}/s`;
    const total = this.#total;
    if (total === undefined) return `${this.#label}${style === "line" ? ":" : ""} ${this.#amount(this.#done)}, ${rate}`;
    const fraction = Math.min(1, this.#done / total);
    const percent = `${(fraction * 100).toFixed(0)}%`;
    if (style === "bar") {
      const filled = Math.round(fraction * BAR_WIDTH);
      return `${this.#label} [${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${percent} ${this.#amount(this.#done)} ${rate}`;
    }
    const left = perSecond > 0 && this.#done < total ? `, about ${formatDuration((total - this.#done) / perSecond)} left` : "";
    return `${this.#label}: ${percent} (${this.#amount(this.#done)} of ${this.#amount(total)}), ${rate}${left}`;
  }

  #amount(n: number): string {
    return this.#unit === "bytes" ? formatBytes(n) : `${n} ${this.#unit}`;
  }
}

/** Progress of work in phases whose sizes are not known ahead, each counted in its own unit (verify: chunks, then blobs). */
export class PhasedProgress {
  readonly #label: string;
  readonly #options: ProgressOptions;
  #phase: { unit: string; progress: Progress } | undefined;

  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#options = options;
  }

  update(unit: string, done: number): void {
    if (this.#phase?.unit !== unit) {
      this.#phase?.progress.clearLine();
      this.#phase = { unit, progress: new Progress(`${this.#label} ${unit}`, undefined, { ...this.#options, unit }) };
    }
    this.#phase.progress.update(done);
  }

  clearLine(): void {
    this.#phase?.progress.clearLine();
  }
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** "45 s", "3 min 20 s", "2 h 5 min": as precise as a person reading a log wants. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
