/**
 * A gzip member's header (RFC 1952 section 2.3), read where it stands. The bytes are kept as they
 * are (MTIME, XFL, OS, a file name: tools differ in every field, so a re-created member carries
 * its header verbatim); the fields say which encoders are likely to have made the member.
 */
export interface GzipHeader {
  /** The header's bytes, verbatim: 10 and more (optional extra field, name, comment, header CRC). */
  bytes: Uint8Array;
  /** MTIME as the four bytes read little-endian. */
  mtime: number;
  /** XFL: 2 (slowest, best compression), 4 (fastest), or 0. */
  xfl: number;
  /** OS: 255 (unknown, Go and JDK 16+ write it), 3 (Unix: zlib's own wrapper, GNU gzip), ... */
  os: number;
  /** FNAME is set: a file name follows (Python's GzipFile, GNU gzip without -n). */
  named: boolean;
}

const FHCRC = 2;
const FEXTRA = 4;
const FNAME = 8;
const FCOMMENT = 16;
const RESERVED = 0xe0;

/** Whether `head` starts like a gzip member (magic and the deflate method). */
export function looksLikeGzip(head: Uint8Array): boolean {
  return head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8;
}

/**
 * The header that starts at `at` in `data`: "incomplete" when `data` ends inside it, "invalid"
 * when these are not the bytes of a gzip header (wrong magic or method, reserved flags).
 */
export function parseGzipHeader(data: Uint8Array, at = 0): GzipHeader | "incomplete" | "invalid" {
  if (data.length - at < 10) return data.length - at >= 3 && !looksLikeGzip(data.subarray(at)) ? "invalid" : "incomplete";
  if (!looksLikeGzip(data.subarray(at))) return "invalid";
  const flags = data[at + 3]!;
  if ((flags & RESERVED) !== 0) return "invalid";
  let end = at + 10;
  if ((flags & FEXTRA) !== 0) {
    if (data.length < end + 2) return "incomplete";
    end += 2 + (data[end]! | (data[end + 1]! << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const zero = data.indexOf(0, end);
    if (zero === -1) return "incomplete";
    end = zero + 1;
  }
  if ((flags & FHCRC) !== 0) end += 2;
  if (data.length < end) return "incomplete";
  return {
    bytes: data.slice(at, end),
    mtime: (data[at + 4]! | (data[at + 5]! << 8) | (data[at + 6]! << 16) | (data[at + 7]! << 24)) >>> 0,
    xfl: data[at + 8]!,
    os: data[at + 9]!,
    named: (flags & FNAME) !== 0,
  };
}
