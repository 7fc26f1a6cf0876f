/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal (never in logs or
 * pipes), at most ten times a second.
 */
export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #started = Date.now();
  #done = 0;
  #lastDraw = 0;

  constructor(label: string, totalBytes: number) {
    this.#label = label;
    this.#total = totalBytes;
    this.#enabled = process.stderr.isTTY === true && totalBytes > 0;
  }

  advance(bytes: number): void {
    this.#done += bytes;
    const now = Date.now();
    if (this.#enabled && now - this.#lastDraw >= 100) {
      this.#lastDraw = now;
      this.#draw();
    }
  }

  clearLine(): void {
    if (this.#enabled) process.stderr.write("\r\x1b[K");
  }

  #draw(): void {
    const fraction = Math.min(1, this.#done / this.#total);
    const width = 30;
    const filled = Math.round(fraction * width);
    const seconds = Math.max(0.001, (Date.now() - this.#started) / 1000);
    const rate = this.#done / 1e6 / seconds;
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    process.stderr.write(`\r\x1b[K${this.#label} [${bar}] ${(fraction * 100).toFixed(0)}% ${formatBytes(this.#done)} ${rate.toFixed(0)} MB/s`);
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
