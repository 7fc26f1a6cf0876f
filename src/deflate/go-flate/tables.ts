// Port of Go's compress/flate (Go 1.8-1.26): constants and tables of deflate.go, token.go and
// huffman_bit_writer.go. Copyright The Go Authors; BSD-style licence (see Go's LICENSE file).

/**
 * Speed: the constants of the encoders' hot loops (deflate.ts, deflatefast.ts), as literals. V8's
 * optimized code reads an imported binding or a module-level const from its cell, with a hole (TDZ)
 * check, at every use; tsc writes const enum members in as numbers, in the files that import them
 * too (worth ~10% at level 6). The named constants below are defined from them.
 */
export const enum Lit {
  LogWindowSize = 15,
  WindowSize = 1 << LogWindowSize,
  WindowMask = WindowSize - 1,
  BaseMatchLength = 3,
  MinMatchLength = 4,
  MaxMatchLength = 258,
  BaseMatchOffset = 1,
  MaxMatchOffset = 1 << 15,
  MaxFlateBlockTokens = 1 << 14,
  HashBits = 17,
  /** The hash is the top hashBits of a 32-bit product. */
  HashShift = 32 - HashBits,
  HashMul = 0x1e35a7bd,
  /** The window index at which deflate.ts's window shifts (fillDeflate): 2*windowSize - (minMatchLength + maxMatchLength). */
  Landing = 2 * WindowSize - (MinMatchLength + MaxMatchLength),
  LengthShift = 22,
  OffsetMask = (1 << LengthShift) - 1,
  MatchType = 1 << 30,
  LengthCodesStart = 257,
  /** deflatefast.go's tableBits and inputMargin. */
  FastTableBits = 14,
  FastTableShift = 32 - FastTableBits,
  FastInputMargin = 16 - 1,
}

// deflate.go
export const NO_COMPRESSION = 0;
export const BEST_SPEED = 1;
export const BEST_COMPRESSION = 9;
export const DEFAULT_COMPRESSION = -1;
/** Huffman entropy coding only, no LZ77 match search. */
export const HUFFMAN_ONLY = -2;

export const LOG_WINDOW_SIZE = Lit.LogWindowSize;
export const WINDOW_SIZE = Lit.WindowSize;
export const WINDOW_MASK = Lit.WindowMask;

// The LZ77 step produces a sequence of literal tokens and <length, offset> pair tokens. The wire
// format allows lengths 3..258; this compressor uses a higher minimum match length, enabling
// optimizations such as finding matches via 32-bit loads and compares.
export const BASE_MATCH_LENGTH = Lit.BaseMatchLength; // The smallest match length per the RFC section 3.2.5
export const MIN_MATCH_LENGTH = Lit.MinMatchLength; // The smallest match length that the compressor actually emits
export const MAX_MATCH_LENGTH = Lit.MaxMatchLength; // The largest match length
export const BASE_MATCH_OFFSET = Lit.BaseMatchOffset; // The smallest match offset
export const MAX_MATCH_OFFSET = Lit.MaxMatchOffset; // The largest match offset

/** The maximum number of tokens put into a single flate block, just to stop things from getting too large. */
export const MAX_FLATE_BLOCK_TOKENS = Lit.MaxFlateBlockTokens;
export const MAX_STORE_BLOCK_SIZE = 65535;
export const HASH_BITS = Lit.HashBits; // After 17 performance degrades
export const HASH_SIZE = 1 << HASH_BITS;
export const HASH_MASK = HASH_SIZE - 1;
export const MAX_HASH_OFFSET = 1 << 24;
export const SKIP_NEVER = 0x7fffffff; // math.MaxInt32
export const MAX_INT32 = 0x7fffffff;
export const HASHMUL = Lit.HashMul;

/** level, good, lazy, nice, chain, fastSkipHashing (deflate.go `levels`). */
export const LEVELS: readonly (readonly [number, number, number, number, number, number])[] = [
  [0, 0, 0, 0, 0, 0], // NoCompression.
  [1, 0, 0, 0, 0, 0], // BestSpeed uses a custom algorithm; see deflatefast.ts.
  // For levels 2-3 we don't bother trying with lazy matches.
  [2, 4, 0, 16, 8, 5],
  [3, 4, 0, 32, 32, 6],
  // Levels 4-9 use increasingly more lazy matching
  // and increasingly stringent conditions for "good enough".
  [4, 4, 4, 16, 16, SKIP_NEVER],
  [5, 8, 16, 32, 32, SKIP_NEVER],
  [6, 8, 16, 128, 128, SKIP_NEVER],
  [7, 8, 32, 128, 256, SKIP_NEVER],
  [8, 32, 128, 258, 1024, SKIP_NEVER],
  [9, 32, 258, 258, 4096, SKIP_NEVER],
];

// token.go
// 2 bits:   type   0 = literal  1=EOF  2=Match   3=Unused
// 8 bits:   xlength = length - MIN_MATCH_LENGTH
// 22 bits   xoffset = offset - MIN_OFFSET_SIZE, or literal
export const LENGTH_SHIFT = Lit.LengthShift;
export const OFFSET_MASK = Lit.OffsetMask;
export const MATCH_TYPE = Lit.MatchType;

/** The length code for length X (MIN_MATCH_LENGTH <= X <= MAX_MATCH_LENGTH) is LENGTH_CODES[X - BASE_MATCH_LENGTH]. */
export const LENGTH_CODES = Uint8Array.from([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17,
  17, 17, 17, 17, 17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21,
  21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23,
  23, 23, 23, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25,
  25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
  26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
  27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 28,
]);

const OFFSET_CODES_SMALL = Uint8Array.from([
  0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
  11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
  12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
  13, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
  14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
]);

/**
 * offsetCode(off) of token.go for every xoffset 0..32767, flattened into one table (Go's
 * offsetCodes[off], offsetCodes[off>>7]+14, offsetCodes[off>>14]+28).
 */
export const OFFSET_CODES = (() => {
  const t = new Uint8Array(MAX_MATCH_OFFSET);
  for (let off = 0; off < MAX_MATCH_OFFSET; off++) {
    if (off < 256) t[off] = OFFSET_CODES_SMALL[off]!;
    else if (off >> 7 < 256) t[off] = OFFSET_CODES_SMALL[off >> 7]! + 14;
    else t[off] = OFFSET_CODES_SMALL[off >> 14]! + 28;
  }
  return t;
})();

// huffman_bit_writer.go
/** The largest offset code. */
export const OFFSET_CODE_COUNT = 30;
/** The special code used to mark the end of a block. */
export const END_BLOCK_MARKER = 256;
/** The first length code. */
export const LENGTH_CODES_START = Lit.LengthCodesStart;
/** The number of codegen codes. */
export const CODEGEN_CODE_COUNT = 19;
export const BAD_CODE = 255;
/** inflate.go maxNumLit. */
export const MAX_NUM_LIT = 286;

/** The number of extra bits needed by length code X - LENGTH_CODES_START. */
export const LENGTH_EXTRA_BITS = Int8Array.from([
  /* 257 */ 0, 0, 0, /* 260 */ 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, /* 270 */ 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, /* 280 */ 4, 5, 5, 5, 5, 0,
]);

/** The length indicated by length code X - LENGTH_CODES_START. */
export const LENGTH_BASE = Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255]);

/** Offset code word extra bits. */
export const OFFSET_EXTRA_BITS = Int8Array.from([0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]);

export const OFFSET_BASE = Uint32Array.from([
  0x000000, 0x000001, 0x000002, 0x000003, 0x000004, 0x000006, 0x000008, 0x00000c, 0x000010, 0x000018, 0x000020, 0x000030, 0x000040, 0x000060, 0x000080,
  0x0000c0, 0x000100, 0x000180, 0x000200, 0x000300, 0x000400, 0x000600, 0x000800, 0x000c00, 0x001000, 0x001800, 0x002000, 0x003000, 0x004000, 0x006000,
]);

/** The odd order in which the codegen code sizes are written. */
export const CODEGEN_ORDER = Uint8Array.from([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]);

// deflatefast.go
export const TABLE_BITS = Lit.FastTableBits; // Bits used in the table.
export const TABLE_SIZE = 1 << TABLE_BITS;
export const TABLE_MASK = TABLE_SIZE - 1;
export const TABLE_SHIFT = Lit.FastTableShift;
/**
 * Reset the buffer offset when reaching this. Offsets are stored between blocks as int32 values.
 * Since the offset we are checking against is at the beginning of the buffer, we need to subtract
 * the current and input buffer to not risk overflowing the int32.
 */
export const BUFFER_RESET = MAX_INT32 - MAX_STORE_BLOCK_SIZE * 2;
export const INPUT_MARGIN = Lit.FastInputMargin;
export const MIN_NON_LITERAL_BLOCK_SIZE = 1 + 1 + INPUT_MARGIN;
