/**
 * Watches a byte stream that may be a tar archive and reports the offsets where a large enough
 * regular file's data starts and ends, so the chunker can cut there: a file then dedups
 * wherever it sits in a layer, whatever entries surround it. Small entries and headers are left
 * to the content-defined cuts (one chunk per tiny file would cost more in metadata than it saves).
 *
 * It only ever adds cut points; anything that does not parse as tar (a gzip layer, a config)
 * switches it off, and the stream is chunked as plain bytes.
 */
const BLOCK = 512;

export class TarBoundaries {
  readonly #minFileSize: number;
  readonly #pending: number[] = [];
  #pendingHead = 0;
  #nextHeader = 0;
  #header = new Uint8Array(BLOCK);
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
      const take = Math.min(BLOCK - this.#headerFill, piece.length - at);
      this.#header.set(piece.subarray(at, at + take), this.#headerFill);
      this.#headerFill += take;
      if (this.#headerFill < BLOCK) return;
      this.#headerFill = 0;
      this.#parseHeader();
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

  #parseHeader(): void {
    const h = this.#header;
    if (isZero(h) || !checksumOk(h)) {
      // End-of-archive marker, or not a tar stream at all: no more boundaries.
      this.#active = false;
      return;
    }
    const size = parseSize(h.subarray(124, 136));
    if (size < 0) {
      this.#active = false;
      return;
    }
    const dataStart = this.#nextHeader + BLOCK;
    const type = h[156];
    const isRegularFile = type === 0x30 /* '0' */ || type === 0 || type === 0x37; /* '7' */
    if (isRegularFile && size >= this.#minFileSize) {
      this.#pending.push(dataStart, dataStart + size);
    }
    this.#nextHeader = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
}

function isZero(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the byte sum with the checksum field itself counted as spaces. */
function checksumOk(h: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  const stored = parseOctal(h.subarray(148, 156));
  return stored === sum;
}

/** The size field: octal text, or GNU base-256 (high bit set) for files of 8 GiB and more. */
function parseSize(field: Uint8Array): number {
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  return parseOctal(field);
}

function parseOctal(field: Uint8Array): number {
  let value = 0;
  let seen = false;
  for (const byte of field) {
    if (byte >= 0x30 && byte <= 0x37) {
      value = value * 8 + (byte - 0x30);
      seen = true;
    } else if (byte === 0 || byte === 0x20) {
      if (seen) break;
    } else {
      return -1;
    }
  }
  return seen ? value : -1;
}
