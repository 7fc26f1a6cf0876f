import { createInflateRaw, crc32 } from "node:zlib";
import { DedupError } from "../../errors.js";
import { parseGzipHeader, type GzipHeader } from "../../deflate/gzip-header.js";

/** A blob that can be read from any offset on (a stored blob's range reads). */
export type ReadFrom = (start: number) => AsyncIterable<Uint8Array>;

/** Where one member of a gzip blob lies, in the blob and in its uncompressed content. */
export interface MemberLayout {
  header: GzipHeader;
  /** Offset of the deflate stream in the blob, and its length. */
  deflateStart: number;
  deflateLength: number;
  /** CRC-32 and ISIZE as they stand (checked against the content). */
  trailer: Buffer;
  contentStart: number;
  contentLength: number;
}

/** What `inflateGzip` found, complete once its content has been read to the end. */
export interface GzipLayout {
  members: MemberLayout[];
  /** Bytes after the last member that start no member (padding some tools add), verbatim. */
  trailing: Buffer;
}

/** The longest header read: a name or comment beyond this is no layer's. */
const MAX_HEADER_BYTES = 64 << 10;

/**
 * The uncompressed content of a gzip blob of `size` bytes, every member's in order; `layout`
 * fills in as the members end. Node's zlib inflates (decompression is the same whatever made the
 * stream); each member's trailer is checked. A blob that is not gzip from its first byte, or is
 * cut short or damaged, fails with INPUT_INVALID.
 */
export async function* inflateGzip(readFrom: ReadFrom, size: number, layout: GzipLayout): AsyncGenerator<Buffer> {
  let at = 0;
  let contentAt = 0;
  while (at < size) {
    const head = await readSome(readFrom, at, Math.min(size - at, MAX_HEADER_BYTES));
    const header = parseGzipHeader(head);
    if (typeof header === "string") {
      if (at === 0) throw new DedupError("INPUT_INVALID", `not a gzip stream: ${header === "invalid" ? "no gzip header" : "cut short in its header"}`);
      layout.trailing = Buffer.from(await readSome(readFrom, at, size - at));
      return;
    }
    const deflateStart = at + header.bytes.length;
    let crc = 0;
    let length = 0;
    let deflateLength = 0;
    for await (const piece of inflateFrom(readFrom(deflateStart), (consumed) => (deflateLength = consumed))) {
      crc = crc32(piece, crc);
      length += piece.length;
      yield piece;
    }
    const trailerAt = deflateStart + deflateLength;
    if (trailerAt + 8 > size) throw new DedupError("INPUT_INVALID", `gzip member at byte ${at} is cut short`);
    const trailer = Buffer.from(await readSome(readFrom, trailerAt, 8));
    if (trailer.readUInt32LE(0) !== crc >>> 0 || trailer.readUInt32LE(4) !== length % 2 ** 32) {
      throw new DedupError("INPUT_INVALID", `gzip member at byte ${at}: its CRC-32 or length does not match its content`);
    }
    layout.members.push({ header, deflateStart, deflateLength, trailer, contentStart: contentAt, contentLength: length });
    contentAt += length;
    at = trailerAt + 8;
  }
}

/**
 * Inflates the raw deflate stream at the start of `compressed`, which may go on past it: what
 * follows the stream's end is not read further. `consumed` hears how many compressed bytes the
 * stream took, once it ended.
 */
async function* inflateFrom(compressed: AsyncIterable<Uint8Array>, consumed: (bytes: number) => void): AsyncGenerator<Buffer> {
  const inflater = createInflateRaw();
  let ended = false;
  inflater.once("end", () => (ended = true));
  const feeding = (async () => {
    for await (const piece of compressed) {
      if (ended) break;
      if (!inflater.write(piece)) await drained(inflater);
    }
    inflater.end();
  })();
  let fed: unknown;
  feeding.catch((error: unknown) => {
    fed = error;
    inflater.destroy(error as Error);
  });
  try {
    for await (const piece of inflater as AsyncIterable<Buffer>) yield piece;
  } catch (error) {
    throw fed ?? new DedupError("INPUT_INVALID", `bad deflate data: ${(error as Error).message}`, {}, { cause: error });
  }
  await feeding;
  if (!ended) throw new DedupError("INPUT_INVALID", "the deflate stream is cut short");
  consumed(inflater.bytesWritten);
}

/** Resolves when the stream takes more input, or will take none (ended, failed). */
function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done).off("end", done).off("error", done);
      resolve();
    };
    stream.on("drain", done).on("end", done).on("error", done);
  });
}

/** `length` bytes of the blob from `start` (fewer only if it ends). */
async function readSome(readFrom: ReadFrom, start: number, length: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const piece of readFrom(start)) {
    parts.push(piece.subarray(0, Math.min(piece.length, length - got)));
    got += parts[parts.length - 1]!.length;
    if (got >= length) break;
  }
  return Buffer.concat(parts);
}
