import { headerChecksumOk, headerSize, isRegularFile, isZeroBlock, TAR_BLOCK } from "./tar-header.js";

/**
 * Watches a byte stream that may be a tar archive and reports the offsets where a large enough
 * regular file's data starts and ends, so the chunker can cut there: a file then dedups
 * wherever it sits in a layer, whatever entries surround it. Small entries and headers are left
 * to the content-defined cuts (one chunk per tiny file would cost more in metadata than it saves).
 *
 * It only ever adds cut points; anything that does not parse as tar (a gzip layer, a config)
 * switches it off, and the stream is chunked as plain bytes.
 */
export class TarBoundaries {
  readonly #minFileSize: number;
  readonly #pending: number[] = [];
  #pendingHead = 0;
  #nextHeader = 0;
  #header = new Uint8Array(TAR_BLOCK);
  #headerFill = 0;
  #active = true;

  constructor(minFileSize: number) {
    this.#minFileSize = minFileSize;
  }

  /** Feeds the next piece of the stream; `offset` is the absolute offset of its first byte. */
  observe(piece: Uint8Array, offset: number): void {
    const pieceEnd = offset + piece.length;
    while (this.#active && this.#nextHeader < pieceEnd) {
      const at = this.#nextHeader + this.#headerFill - offset;
      if (this.#headerFill === 0 && at + TAR_BLOCK <= piece.length) {
        // The whole header is in this piece (nearly always): read it in place, no copy.
        this.#parseHeader(piece, at);
        continue;
      }
      const take = Math.min(TAR_BLOCK - this.#headerFill, piece.length - at);
      this.#header.set(piece.subarray(at, at + take), this.#headerFill);
      this.#headerFill += take;
      if (this.#headerFill < TAR_BLOCK) return;
      this.#headerFill = 0;
      this.#parseHeader(this.#header, 0);
    }
  }

  /** The earliest reported boundary not yet taken, or undefined. */
  peek(): number | undefined {
    return this.#pending[this.#pendingHead];
  }

  shift(): void {
    this.#pendingHead++;
    if (this.#pendingHead > 1024) {
      this.#pending.splice(0, this.#pendingHead);
      this.#pendingHead = 0;
    }
  }

  /** Parses the header at `bytes[at, at + 512)`. */
  #parseHeader(bytes: Uint8Array, at: number): void {
    if (isZeroBlock(bytes, at) || !headerChecksumOk(bytes, at)) {
      // End-of-archive marker, or not a tar stream at all: no more boundaries.
      this.#active = false;
      return;
    }
    const size = headerSize(bytes, at);
    if (size < 0) {
      this.#active = false;
      return;
    }
    const dataStart = this.#nextHeader + TAR_BLOCK;
    if (isRegularFile(bytes[at + 156]) && size >= this.#minFileSize) {
      this.#pending.push(dataStart, dataStart + size);
    }
    this.#nextHeader = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
  }
}
