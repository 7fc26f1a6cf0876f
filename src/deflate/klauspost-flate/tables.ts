// Port of github.com/klauspost/compress v1.15.12 flate (token.go, huffman_bit_writer.go, deflate.go,
// fast_encoder.go constants). Copyright The Go Authors and Klaus Post; BSD-style licence (see the
// LICENSE file of github.com/klauspost/compress).

/**
 * Speed: the constants of the hot loops (the fast encoders', writeTokens'), as literals. V8's
 * optimized code reads an imported binding or a module-level const from its cell, with a hole (TDZ)
 * check, at every use; tsc writes const enum members in as numbers, in the files that import them
 * too. The named constants they stand for here and in fast-encoder.ts are defined from them.
 */
export const enum Lit {
  /** inputMargin and minNonLiteralBlockSize of fast_encoder.go. */
  InputMargin = 12 - 1,
  MinNonLiteralBlockSize = 1 + 1 + InputMargin,
  TableBits = 15,
  /** hashLen(u, bits, n) shifts right by 32 - bits: tableBits (15), and level 3's 16. */
  HashShift15 = 32 - TableBits,
  HashShift16 = 32 - 16,
  /** prime4bytes; prime5bytes = 0xcf_1bbcdcbb and prime7bytes = 0xcf1bbc_dcbfa563 as low and high 32 bits. */
  Prime4 = 0x9e3779b1,
  P5Lo = 0x1bbcdcbb,
  P5Hi = 0xcf,
  /**
   * mulhi(lo << 24, P5Lo) = ((lo & 0xff) * P5Lo) >> 8, in int32 arithmetic:
   * (lo & 0xff) * (P5Lo >>> 8) + (((lo & 0xff) * (P5Lo & 0xff)) >>> 8).
   */
  P5LoHigh24 = P5Lo >>> 8,
  P5LoLow8 = P5Lo & 0xff,
  P7Lo = 0xdcbfa563,
  P7Hi = 0xcf1bbc,
  /** 2^-32. */
  TwoM32 = 2.3283064365386963e-10,
  MaxMatchOffset = 1 << 15,
  MaxMatchLength = 258,
  MatchType = 1 << 30,
  LengthShift = 22,
  MatchOffsetOnlyMask = 0xffff,
  LengthCodesStart = 257,
  LengthExtraBitsMinCode = 8,
  OffsetExtraBitsMinCode = 4,
}

// deflate.go
export const NO_COMPRESSION = 0;
export const BEST_SPEED = 1;
export const BEST_COMPRESSION = 9;
export const DEFAULT_COMPRESSION = -1;
export const HUFFMAN_ONLY = -2;

export const WINDOW_SIZE = 1 << 15;
export const WINDOW_MASK = WINDOW_SIZE - 1;
export const MIN_MATCH_LENGTH = 4; // The smallest match that the lazy matcher (levels 7-9) looks for
export const MAX_MATCH_LENGTH = Lit.MaxMatchLength;
export const MIN_OFFSET_SIZE = 1;
/** The most tokens levels 7-9 collect before writing a block. */
export const MAX_FLATE_BLOCK_TOKENS = 1 << 15;
export const MAX_STORE_BLOCK_SIZE = 65535;
export const HASH_BITS = 17;
export const HASH_SIZE = 1 << HASH_BITS;
export const HASH_MASK = HASH_SIZE - 1;
export const MAX_HASH_OFFSET = 1 << 28;
export const SKIP_NEVER = 0x7fffffff;

// fast_encoder.go
export const TABLE_BITS = Lit.TableBits;
export const TABLE_SIZE = 1 << TABLE_BITS;
export const BASE_MATCH_OFFSET = 1;
export const BASE_MATCH_LENGTH = 3;
export const MAX_MATCH_OFFSET = Lit.MaxMatchOffset;
export const B_TABLE_BITS = 17;
export const B_TABLE_SIZE = 1 << B_TABLE_BITS;
export const ALLOC_HISTORY = MAX_STORE_BLOCK_SIZE * 5;
/** e.cur is rebased when it reaches this, so that offsets stay within int32. */
export const BUFFER_RESET = 2 ** 31 - ALLOC_HISTORY - MAX_STORE_BLOCK_SIZE - 1;

// token.go
export const LENGTH_SHIFT = Lit.LengthShift;
export const OFFSET_MASK = (1 << LENGTH_SHIFT) - 1;
export const MATCH_TYPE = Lit.MatchType;
export const MATCH_OFFSET_ONLY_MASK = Lit.MatchOffsetOnlyMask;

// huffman_bit_writer.go / huffman_code.go
export const OFFSET_CODE_COUNT = 30;
export const END_BLOCK_MARKER = 256;
export const LENGTH_CODES_START = Lit.LengthCodesStart;
export const CODEGEN_CODE_COUNT = 19;
export const BAD_CODE = 255;
/** Up to this many tokens, the fixed Huffman code is considered. */
export const MAX_PREDEFINED_TOKENS = 250;
export const LITERAL_COUNT = 286;
export const MAX_BITS_LIMIT = 16;
export const LENGTH_EXTRA_BITS_MIN_CODE = Lit.LengthExtraBitsMinCode;
export const OFFSET_EXTRA_BITS_MIN_CODE = Lit.OffsetExtraBitsMinCode;

/** Length code (0..28, i.e. symbol - 257) of match length 3 + i. Same values as Go's literal table (derived from RFC 1951). */
export const lengthCodes = new Uint8Array(256);
/** lengthCodes + 1: the index into the literal histogram's extra part (extraHist[0] is the EOB). */
export const lengthCodes1 = new Uint8Array(256);
/** Distance code of (distance - 1) for values < 256. */
export const offsetCodes = new Uint8Array(256);
/** offsetCodes + 14: distance code of (distance - 1) >> 7 for larger values. */
export const offsetCodes14 = new Uint8Array(256);

export const lengthExtraBits = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0, 0, 0, 0]);
export const lengthBase = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255, 0, 0, 0]);
export const offsetExtraBits = new Int8Array([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14]);
const offsetBase = [
  0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c, 0x000010, 0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080,
  0x0000c0, 0x000100, 0x000180, 0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00, 0x001000, 0x001800, 0x002000, 0x003000, 0x004000, 0x006000,
  0x008000, 0x00c000,
];
/** offsetExtraBits | offsetBase << 8, as Go's offsetCombined (0 for codes without extra bits). */
export const offsetCombined = new Uint32Array(32);
export const codegenOrder = new Uint8Array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

{
  const lbase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  let code = 0;
  for (let len = 3; len <= 258; len++) {
    while (code + 1 < lbase.length && lbase[code + 1]! <= len) code++;
    lengthCodes[len - 3] = code;
    lengthCodes1[len - 3] = code + 1;
  }
  for (let off = 0; off < 256; off++) {
    let c = 0;
    while (c + 1 < 30 && offsetBase[c + 1]! <= off) c++;
    offsetCodes[off] = c;
    offsetCodes14[off] = c + 14;
  }
  for (let i = 0; i < 32; i++) {
    // Don't use extended window values...
    if (offsetExtraBits[i] === 0 || offsetBase[i]! > 0x006000) continue;
    offsetCombined[i] = (offsetExtraBits[i]! | (offsetBase[i]! << 8)) >>> 0;
  }
}

/** Distance code of xoffset = distance - 1 (token.go offsetCode). */
export function offsetCode(off: number): number {
  return off < 256 ? offsetCodes[off]! : offsetCodes14[(off >>> 7) & 255]!;
}
