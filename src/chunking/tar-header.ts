/** The parts of a tar header (ustar, GNU, PAX) that both the chunker and `add` need to read. */
export const TAR_BLOCK = 512;

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the byte sum with the checksum field itself counted as spaces. */
export function headerChecksumOk(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return parseTarNumber(header.subarray(148, 156)) === sum;
}

/** The size of the entry's data: octal text, or GNU base-256 (high bit set) from 8 GiB up; -1 if malformed. */
export function headerSize(header: Uint8Array): number {
  return parseTarNumber(header.subarray(124, 136));
}

function parseTarNumber(field: Uint8Array): number {
  if ((field[0]! & 0x80) !== 0) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
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

/** Regular files: '0', NUL (old tar) and '7' (contiguous file). */
export function isRegularFile(typeflag: number | undefined): boolean {
  return typeflag === 0x30 || typeflag === 0 || typeflag === 0x37;
}
