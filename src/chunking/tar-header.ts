/**
 * The parts of a tar header (ustar, GNU, PAX) that both the chunker and `add` need to read.
 * Each takes the header's offset in `bytes`, so a header inside a larger buffer is read in place.
 */
export const TAR_BLOCK = 512;

export function isZeroBlock(block: Uint8Array, at = 0): boolean {
  const end = at + Math.min(TAR_BLOCK, block.length - at);
  for (let i = at; i < end; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the byte sum with the checksum field itself counted as spaces. */
export function headerChecksumOk(header: Uint8Array, at = 0): boolean {
  let sum = 8 * 0x20;
  for (let i = at; i < at + 148; i++) sum += header[i]!;
  for (let i = at + 156; i < at + TAR_BLOCK; i++) sum += header[i]!;
  return parseTarNumber(header, at + 148, at + 156) === sum;
}

/** The size of the entry's data: octal text, or GNU base-256 (high bit set) from 8 GiB up; -1 if malformed. */
export function headerSize(header: Uint8Array, at = 0): number {
  return parseTarNumber(header, at + 124, at + 136);
}

function parseTarNumber(bytes: Uint8Array, start: number, end: number): number {
  if ((bytes[start]! & 0x80) !== 0) {
    let value = bytes[start]! & 0x7f;
    for (let i = start + 1; i < end; i++) value = value * 256 + bytes[i]!;
    return value;
  }
  let value = 0;
  let seen = false;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
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

/** Regular files: '0', NUL (old tar) and '7' (contiguous file). */
export function isRegularFile(typeflag: number | undefined): boolean {
  return typeflag === 0x30 || typeflag === 0 || typeflag === 0x37;
}
