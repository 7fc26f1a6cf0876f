import { DedupError } from "../../errors.js";
import type { ReadRange } from "./prove.js";

/**
 * A member's content read once, front to back, for the parts it is re-encoded in: each part asks
 * for its range, which may reach back a little into the range before it (Go's window, pgzip's
 * dictionary) and on past its end (Go's lookahead). Reading each part's ranges apart decoded every
 * stored run at a part's edges two or three times (4 MiB for 32 KiB of window); read once, each is
 * decoded once.
 *
 * Ranges are handed out in the order they are asked for, and must be asked for in order of their
 * starts (parts start in order); the pieces read are kept only back to the start of the last one.
 */
export class ContentTape {
  readonly #content: ReadRange;
  readonly #end: number;
  /** Opened at the first range asked for: a member encoded whole never opens it. */
  #pieces: AsyncIterator<Uint8Array> | undefined;
  /** Pieces read and still needed, the first starting at #keptFrom. */
  readonly #kept: Uint8Array[] = [];
  #keptFrom: number;
  /** Where the content read so far ends. */
  #readTo: number;
  /** Each range is taken once the one asked for before it was: they read on from one another. */
  #turn: Promise<unknown> = Promise.resolve();
  /** The start of the last range asked for: none may start before it. */
  #lastFrom: number;

  constructor(content: ReadRange, start: number, end: number) {
    this.#content = content;
    this.#end = end;
    this.#keptFrom = start;
    this.#readTo = start;
    this.#lastFrom = start;
  }

  /** The bytes [from, to), a buffer of their own. */
  take(from: number, to: number): Promise<Uint8Array> {
    const taken = this.#turn.then(() => this.#take(from, to));
    this.#turn = taken.catch(() => undefined);
    return taken;
  }

  /** Stops reading (the rest of the content is not needed). */
  async close(): Promise<void> {
    await this.#pieces?.return?.();
  }

  async #take(from: number, to: number): Promise<Uint8Array> {
    if (from < this.#lastFrom) throw new Error(`content from ${from} asked for after content from ${this.#lastFrom}`);
    this.#lastFrom = from;
    this.#pieces ??= this.#content(this.#readTo, this.#end)[Symbol.asyncIterator]();
    while (this.#readTo < to) {
      const next = await this.#pieces.next();
      if (next.done === true) throw new DedupError("STORE_INVALID", `the content of a gzip form ends at ${this.#readTo}, before ${to}`);
      this.#kept.push(next.value);
      this.#readTo += next.value.length;
    }
    while (this.#kept.length > 0 && this.#keptFrom + this.#kept[0]!.length <= from) this.#keptFrom += this.#kept.shift()!.length;
    const out = new Uint8Array(to - from);
    let at = this.#keptFrom;
    for (const piece of this.#kept) {
      const lo = Math.max(from, at);
      const hi = Math.min(to, at + piece.length);
      if (lo < hi) out.set(piece.subarray(lo - at, hi - at), lo - from);
      at += piece.length;
      if (at >= to) break;
    }
    return out;
  }
}
