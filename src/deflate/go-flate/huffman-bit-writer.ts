// Port of Go's compress/flate huffman_bit_writer.go (Go 1.8-1.26). Copyright The Go Authors;
// BSD-style licence (see Go's LICENSE file).
//
// Differences in form, not in output: Go accumulates bits in a uint64 and writes 6 bytes at a time;
// JavaScript has no cheap 64-bit integers, so bits are accumulated in a 32-bit int and written 4
// bytes at a time (a value of up to 31 bits may straddle the boundary). The bit stream is the same.
// Output bytes are collected in a buffer and handed to the sink when it fills (and at the end), so
// the sink sees the same bytes as Go's io.Writer, in differently sized pieces.

import { fixedLiteralEncoding, fixedOffsetEncoding, HuffmanEncoder } from "./huffman-code.js";
import {
  BAD_CODE,
  CODEGEN_CODE_COUNT,
  CODEGEN_ORDER,
  END_BLOCK_MARKER,
  LENGTH_BASE,
  LENGTH_CODES,
  LENGTH_CODES_START,
  LENGTH_EXTRA_BITS,
  Lit,
  MATCH_TYPE,
  MAX_NUM_LIT,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_BASE,
  OFFSET_CODE_COUNT,
  OFFSET_CODES,
  OFFSET_EXTRA_BITS,
  OFFSET_MASK,
} from "./tables.js";

const OUT_SIZE = 1 << 16;
/** Room kept free at the end of the buffer: one token writes at most 48 bits (+4 bytes of a 32-bit flush). */
const OUT_LIMIT = OUT_SIZE - 64;
/** Stored data at least this long goes to the sink directly instead of through the buffer. */
const DIRECT_WRITE = 4096;

/** huffOffset is a static offset encoder used for huffman only encoding (only offset code 0 has a length). */
const huffOffset = (() => {
  const offsetFreq = new Int32Array(OFFSET_CODE_COUNT);
  offsetFreq[0] = 1;
  const h = new HuffmanEncoder(OFFSET_CODE_COUNT);
  h.generate(offsetFreq, OFFSET_CODE_COUNT, 15);
  return h;
})();

export class HuffmanBitWriter {
  // Data waiting to be written is out[0:pos] and then the low nbits of acc.
  private readonly out = new Uint8Array(OUT_SIZE);
  private readonly outView = new DataView(this.out.buffer);
  private pos = 0;
  private acc = 0;
  private nbits = 0;
  /** Bytes handed on so far (pieces beyond `stopByte` are counted but not passed to the sink). */
  private emitted = 0;
  /** Bytes past this offset of the stream are not passed to the sink (a segment's end). */
  stopByte = Number.POSITIVE_INFINITY;

  readonly literalFreq = new Int32Array(MAX_NUM_LIT);
  readonly offsetFreq = new Int32Array(OFFSET_CODE_COUNT);
  private readonly codegenFreq = new Int32Array(CODEGEN_CODE_COUNT);
  private readonly codegen = new Uint8Array(MAX_NUM_LIT + OFFSET_CODE_COUNT + 1);
  private readonly literalEncoding = new HuffmanEncoder(MAX_NUM_LIT);
  private readonly offsetEncoding = new HuffmanEncoder(OFFSET_CODE_COUNT);
  private readonly codegenEncoding = new HuffmanEncoder(CODEGEN_CODE_COUNT);
  /** Set by dynamicSize. */
  private numCodegens = 0;
  /** Per-block tables: length symbol code with its extra bits (xlength -> bits, bit count). */
  private readonly lenBits = new Int32Array(256);
  private readonly lenNBits = new Int32Array(256);

  constructor(private readonly sink: (bytes: Uint8Array) => void) {}

  /** Bits written so far (a stream position). */
  bitsWritten(): number {
    return (this.emitted + this.pos) * 8 + this.nbits;
  }

  /** The bits of the last, incomplete byte (bitsWritten() % 8 of them, low bits first). */
  pendingBits(): number {
    const whole = this.nbits & ~7;
    return (this.acc >>> whole) & ((1 << (this.nbits - whole)) - 1) & 0xff;
  }

  /**
   * Makes this writer continue a stream at bit position `bit`, whose incomplete last byte holds
   * `pending`: the bytes before it belong to whoever wrote them, this writer emits from byte
   * floor(bit / 8) on (that byte included, with the pending bits in it).
   */
  resumeAt(bit: number, pending: number): void {
    this.pos = 0;
    this.emitted = Math.floor(bit / 8);
    this.nbits = bit % 8;
    this.acc = pending & ((1 << this.nbits) - 1);
  }

  private push(view: Uint8Array): void {
    const start = this.emitted;
    this.emitted = start + view.length;
    if (start >= this.stopByte || view.length === 0) return;
    if (this.emitted > this.stopByte) view = view.subarray(0, this.stopByte - start);
    this.sink(view);
  }

  /** Hands the buffered complete bytes to the sink. */
  drain(): void {
    if (this.pos > 0) {
      const n = this.pos;
      this.pos = 0;
      this.push(this.out.subarray(0, n));
    }
  }

  /** Go's flush(): writes out all pending bits, padding the last byte with zeros. */
  flush(): void {
    const out = this.out;
    let pos = this.pos;
    let acc = this.acc;
    let nbits = this.nbits;
    while (nbits > 0) {
      out[pos++] = acc & 0xff;
      acc >>>= 8;
      nbits = nbits > 8 ? nbits - 8 : 0;
    }
    this.acc = 0;
    this.nbits = 0;
    this.pos = pos;
    this.drain();
  }

  writeBits(b: number, nb: number): void {
    let nbits = this.nbits;
    let acc = this.acc | (b << nbits);
    nbits += nb;
    if (nbits >= 32) {
      const outView = this.outView;
      let pos = this.pos;
      outView.setInt32(pos, acc, true);
      pos += 4;
      nbits -= 32;
      acc = b >>> (nb - nbits);
      this.pos = pos;
      if (pos >= OUT_LIMIT) this.drain();
    }
    this.acc = acc;
    this.nbits = nbits;
  }

  /** Stored-block payload (the bit position must be at a byte boundary). */
  writeBytes(bytes: Uint8Array): void {
    if ((this.nbits & 7) !== 0) throw new Error("flate: writeBytes with unfinished bits");
    const out = this.out;
    while (this.nbits !== 0) {
      out[this.pos++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.nbits -= 8;
    }
    if (bytes.length >= DIRECT_WRITE) {
      this.drain();
      this.push(bytes);
      return;
    }
    if (this.pos + bytes.length > OUT_LIMIT) this.drain();
    out.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /**
   * RFC 1951 3.2.7 specifies a special run-length encoding for specifying the literal and offset
   * lengths arrays (which are concatenated into a single array). This method generates that
   * run-length encoding.
   *
   * The result is written into the codegen array, and the frequencies of each code is written
   * into the codegenFreq array. Codes 0-15 are single byte codes. Codes 16-18 are followed by
   * additional information. Code badCode is an end marker.
   */
  private generateCodegen(numLiterals: number, numOffsets: number, litEnc: HuffmanEncoder, offEnc: HuffmanEncoder): void {
    const codegenFreq = this.codegenFreq;
    codegenFreq.fill(0);
    // Note that we are using codegen both as a temporary variable for holding a copy of the
    // frequencies, and as the place where we put the result. This is fine because the output is
    // always shorter than the input used so far.
    const codegen = this.codegen;
    // Copy the concatenated code sizes to codegen. Put a marker at the end.
    const litCodes = litEnc.codes;
    for (let i = 0; i < numLiterals; i++) codegen[i] = litCodes[i]! >>> 16;
    const offCodes = offEnc.codes;
    for (let i = 0; i < numOffsets; i++) codegen[numLiterals + i] = offCodes[i]! >>> 16;
    codegen[numLiterals + numOffsets] = BAD_CODE;

    let size = codegen[0]!;
    let count = 1;
    let outIndex = 0;
    for (let inIndex = 1; size !== BAD_CODE; inIndex++) {
      // INVARIANT: We have seen "count" copies of size that have not yet had output generated
      // for them.
      const nextSize = codegen[inIndex]!;
      if (nextSize === size) {
        count++;
        continue;
      }
      // We need to generate codegen indicating "count" of size.
      if (size !== 0) {
        codegen[outIndex++] = size;
        codegenFreq[size]!++;
        count--;
        while (count >= 3) {
          const n = count < 6 ? count : 6;
          codegen[outIndex++] = 16;
          codegen[outIndex++] = n - 3;
          codegenFreq[16]!++;
          count -= n;
        }
      } else {
        while (count >= 11) {
          const n = count < 138 ? count : 138;
          codegen[outIndex++] = 18;
          codegen[outIndex++] = n - 11;
          codegenFreq[18]!++;
          count -= n;
        }
        if (count >= 3) {
          // count >= 3 && count <= 10
          codegen[outIndex++] = 17;
          codegen[outIndex++] = count - 3;
          codegenFreq[17]!++;
          count = 0;
        }
      }
      count--;
      for (; count >= 0; count--) {
        codegen[outIndex++] = size;
        codegenFreq[size]!++;
      }
      // Set up invariant for next time through the loop.
      size = nextSize;
      count = 1;
    }
    // Marker indicating the end of the codegen.
    codegen[outIndex] = BAD_CODE;
  }

  /** dynamicSize returns the size of dynamically encoded data in bits (and sets numCodegens). */
  private dynamicSize(litEnc: HuffmanEncoder, offEnc: HuffmanEncoder, extraBits: number): number {
    const codegenFreq = this.codegenFreq;
    let numCodegens = CODEGEN_CODE_COUNT;
    while (numCodegens > 4 && codegenFreq[CODEGEN_ORDER[numCodegens - 1]!] === 0) numCodegens--;
    this.numCodegens = numCodegens;
    const header =
      3 +
      5 +
      5 +
      4 +
      3 * numCodegens +
      this.codegenEncoding.bitLength(codegenFreq, CODEGEN_CODE_COUNT) +
      codegenFreq[16]! * 2 +
      codegenFreq[17]! * 3 +
      codegenFreq[18]! * 7;
    return header + litEnc.bitLength(this.literalFreq, MAX_NUM_LIT) + offEnc.bitLength(this.offsetFreq, OFFSET_CODE_COUNT) + extraBits;
  }

  /** fixedSize returns the size of fixed-Huffman encoded data in bits. */
  private fixedSize(extraBits: number): number {
    return 3 + fixedLiteralEncoding.bitLength(this.literalFreq, MAX_NUM_LIT) + fixedOffsetEncoding.bitLength(this.offsetFreq, OFFSET_CODE_COUNT) + extraBits;
  }

  /** Write the header of a dynamic Huffman block to the output stream. */
  private writeDynamicHeader(numLiterals: number, numOffsets: number, numCodegens: number, isEof: boolean): void {
    this.writeBits(isEof ? 5 : 4, 3);
    this.writeBits(numLiterals - 257, 5);
    this.writeBits(numOffsets - 1, 5);
    this.writeBits(numCodegens - 4, 4);
    const cgCodes = this.codegenEncoding.codes;
    for (let i = 0; i < numCodegens; i++) this.writeBits(cgCodes[CODEGEN_ORDER[i]!]! >>> 16, 3);
    const codegen = this.codegen;
    let i = 0;
    for (;;) {
      const codeWord = codegen[i++]!;
      if (codeWord === BAD_CODE) break;
      const c = cgCodes[codeWord]!;
      this.writeBits(c & 0xffff, c >>> 16);
      switch (codeWord) {
        case 16:
          this.writeBits(codegen[i++]!, 2);
          break;
        case 17:
          this.writeBits(codegen[i++]!, 3);
          break;
        case 18:
          this.writeBits(codegen[i++]!, 7);
          break;
      }
    }
  }

  writeStoredHeader(length: number, isEof: boolean): void {
    this.writeBits(isEof ? 1 : 0, 3);
    this.flush();
    this.writeBits(length, 16);
    this.writeBits(~length & 0xffff, 16);
  }

  private writeFixedHeader(isEof: boolean): void {
    // Indicate that we are a fixed Huffman block
    this.writeBits(isEof ? 3 : 2, 3);
  }

  /**
   * writeBlock will write a block of tokens with the smallest encoding. The original input can be
   * supplied, and if the huffman encoded data is larger than the original bytes, the data will be
   * written as a stored block. If the input is null, the tokens will always be Huffman encoded.
   * `tokens` must have room for one more entry at [n] (the end-of-block marker).
   */
  writeBlock(tokens: Int32Array, n: number, eof: boolean, input: Uint8Array | null, counted = false): void {
    tokens[n++] = END_BLOCK_MARKER;
    const numLiterals = this.indexTokens(tokens, n, counted);
    const numOffsets = this.numOffsets;

    let extraBits = 0;
    const storable = input !== null && input.length <= MAX_STORE_BLOCK_SIZE;
    const storedSize = storable ? (input.length + 5) * 8 : 0;
    if (storable) {
      // We only bother calculating the costs of the extra bits required by the length of offset
      // fields (which will be the same for both fixed and dynamic encoding), if we need to
      // compare those two encodings against stored encoding.
      const literalFreq = this.literalFreq;
      for (let lengthCode = LENGTH_CODES_START + 8; lengthCode < numLiterals; lengthCode++) {
        // First eight length codes have extra size = 0.
        extraBits += literalFreq[lengthCode]! * LENGTH_EXTRA_BITS[lengthCode - LENGTH_CODES_START]!;
      }
      const offsetFreq = this.offsetFreq;
      for (let offsetCode = 4; offsetCode < numOffsets; offsetCode++) {
        // First four offset codes have extra size = 0.
        extraBits += offsetFreq[offsetCode]! * OFFSET_EXTRA_BITS[offsetCode]!;
      }
    }

    // Figure out smallest code. Fixed Huffman baseline.
    let literalEncoding = fixedLiteralEncoding;
    let offsetEncoding = fixedOffsetEncoding;
    let size = this.fixedSize(extraBits);

    // Dynamic Huffman? Generate codegen and codegenFrequencies, which indicates how to encode the
    // literalEncoding and the offsetEncoding.
    this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, this.offsetEncoding);
    this.codegenEncoding.generate(this.codegenFreq, CODEGEN_CODE_COUNT, 7);
    const dynamicSize = this.dynamicSize(this.literalEncoding, this.offsetEncoding, extraBits);
    const numCodegens = this.numCodegens;

    if (dynamicSize < size) {
      size = dynamicSize;
      literalEncoding = this.literalEncoding;
      offsetEncoding = this.offsetEncoding;
    }

    // Stored bytes?
    if (storable && storedSize < size) {
      this.writeStoredHeader(input.length, eof);
      this.writeBytes(input);
      return;
    }

    // Huffman.
    if (literalEncoding === fixedLiteralEncoding) this.writeFixedHeader(eof);
    else this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);

    // Write the tokens.
    this.writeTokens(tokens, n, literalEncoding.codes, offsetEncoding.codes);
  }

  /**
   * writeBlockDynamic encodes a block using a dynamic Huffman table. This should be used if the
   * symbols used have a disproportionate histogram distribution. If input is supplied and the
   * compression savings are below 1/16th of the input size the block is stored.
   */
  writeBlockDynamic(tokens: Int32Array, n: number, eof: boolean, input: Uint8Array | null, counted = false): void {
    tokens[n++] = END_BLOCK_MARKER;
    const numLiterals = this.indexTokens(tokens, n, counted);
    const numOffsets = this.numOffsets;

    // Generate codegen and codegenFrequencies, which indicates how to encode the literalEncoding
    // and the offsetEncoding.
    this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, this.offsetEncoding);
    this.codegenEncoding.generate(this.codegenFreq, CODEGEN_CODE_COUNT, 7);
    const size = this.dynamicSize(this.literalEncoding, this.offsetEncoding, 0);
    const numCodegens = this.numCodegens;

    // Store bytes, if we don't get a reasonable improvement.
    if (input !== null && input.length <= MAX_STORE_BLOCK_SIZE && (input.length + 5) * 8 < size + (size >> 4)) {
      this.writeStoredHeader(input.length, eof);
      this.writeBytes(input);
      return;
    }

    // Write Huffman table.
    this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
    // Write the tokens.
    this.writeTokens(tokens, n, this.literalEncoding.codes, this.offsetEncoding.codes);
  }

  /** Set by indexTokens. */
  private numOffsets = 0;

  /**
   * indexTokens indexes a slice of tokens, and updates literalFreq and offsetFreq, and generates
   * literalEncoding and offsetEncoding. Returns the number of literal codes (numOffsets is set).
   * `counted`: the frequencies of tokens[0:n-1] are in literalFreq and offsetFreq already (the
   * level-1 encoder counts as it goes); only the end-of-block marker tokens[n-1] is added.
   */
  private indexTokens(tokens: Int32Array, n: number, counted: boolean): number {
    const literalFreq = this.literalFreq;
    const offsetFreq = this.offsetFreq;
    if (counted) literalFreq[END_BLOCK_MARKER]!++;
    else {
      literalFreq.fill(0);
      offsetFreq.fill(0);
    }
    for (let i = counted ? n : 0; i < n; i++) {
      const t = tokens[i]!;
      if (t < MATCH_TYPE) {
        literalFreq[t]!++;
        continue;
      }
      literalFreq[LENGTH_CODES_START + LENGTH_CODES[(t - MATCH_TYPE) >>> 22]!]!++;
      offsetFreq[OFFSET_CODES[t & OFFSET_MASK]!]!++;
    }
    // get the number of literals
    let numLiterals = MAX_NUM_LIT;
    while (literalFreq[numLiterals - 1] === 0) numLiterals--;
    // get the number of offsets
    let numOffsets = OFFSET_CODE_COUNT;
    while (numOffsets > 0 && offsetFreq[numOffsets - 1] === 0) numOffsets--;
    if (numOffsets === 0) {
      // We haven't found a single match. If we want to go with the dynamic encoding, we should
      // count at least one offset to be sure that the offset huffman tree could be encoded.
      offsetFreq[0] = 1;
      numOffsets = 1;
    }
    this.literalEncoding.generate(literalFreq, MAX_NUM_LIT, 15);
    this.offsetEncoding.generate(offsetFreq, OFFSET_CODE_COUNT, 15);
    this.numOffsets = numOffsets;
    return numLiterals;
  }

  /** writeTokens writes a slice of tokens to the output. codes for literal and offset encoding must be supplied. */
  private writeTokens(tokens: Int32Array, n: number, leCodes: Int32Array, oeCodes: Int32Array): void {
    // Length symbol and its extra bits, as one value, for each xlength.
    const lenBits = this.lenBits;
    const lenNBits = this.lenNBits;
    for (let xl = 0; xl < 256; xl++) {
      const lc = LENGTH_CODES[xl]!;
      const c = leCodes[lc + LENGTH_CODES_START]!;
      const cl = c >>> 16;
      lenBits[xl] = (c & 0xffff) | ((xl - LENGTH_BASE[lc]!) << cl);
      lenNBits[xl] = cl + LENGTH_EXTRA_BITS[lc]!;
    }
    // Speed: the tables and the limit as locals, loaded once; the loop below uses no module-level
    // binding (V8 checks those for the TDZ hole at every use, see Lit in tables.ts).
    const offsetCodes = OFFSET_CODES;
    const offsetBase = OFFSET_BASE;
    const offsetExtraBits = OFFSET_EXTRA_BITS;
    const outLimit = OUT_LIMIT;
    const outView = this.outView;
    let pos = this.pos;
    let acc = this.acc;
    let nbits = this.nbits;
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      let v: number;
      let nb: number;
      if (t < Lit.MatchType) {
        const c = leCodes[t]!;
        v = c & 0xffff;
        nb = c >>> 16;
      } else {
        // Write the length (symbol and extra bits)
        const xl = (t - Lit.MatchType) >>> Lit.LengthShift;
        const lv = lenBits[xl]!;
        const ln = lenNBits[xl]!;
        acc |= lv << nbits;
        nbits += ln;
        if (nbits >= 32) {
          outView.setInt32(pos, acc, true);
          pos += 4;
          nbits -= 32;
          acc = lv >>> (ln - nbits);
        }
        // The offset (symbol and extra bits)
        const off = t & Lit.OffsetMask;
        const oc = offsetCodes[off]!;
        const c = oeCodes[oc]!;
        const cl = c >>> 16;
        v = (c & 0xffff) | ((off - offsetBase[oc]!) << cl);
        nb = cl + offsetExtraBits[oc]!;
      }
      acc |= v << nbits;
      nbits += nb;
      if (nbits >= 32) {
        outView.setInt32(pos, acc, true);
        pos += 4;
        nbits -= 32;
        acc = v >>> (nb - nbits);
        if (pos >= outLimit) {
          this.pos = pos;
          this.drain();
          pos = 0;
        }
      }
    }
    this.pos = pos;
    this.acc = acc;
    this.nbits = nbits;
  }

  /**
   * writeBlockHuff encodes a block of bytes as either Huffman encoded literals or uncompressed
   * bytes if the results only gains very little from compression.
   */
  writeBlockHuff(eof: boolean, input: Uint8Array): void {
    const literalFreq = this.literalFreq;
    // Clear histogram
    literalFreq.fill(0);
    // Add everything as literals
    for (let i = 0; i < input.length; i++) literalFreq[input[i]!]!++;
    literalFreq[END_BLOCK_MARKER] = 1;

    const numLiterals = END_BLOCK_MARKER + 1;
    this.offsetFreq[0] = 1;
    const numOffsets = 1;

    this.literalEncoding.generate(literalFreq, MAX_NUM_LIT, 15);

    // Figure out smallest code. Always use dynamic Huffman or Store. Generate codegen and
    // codegenFrequencies, which indicates how to encode the literalEncoding and the
    // offsetEncoding.
    this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, huffOffset);
    this.codegenEncoding.generate(this.codegenFreq, CODEGEN_CODE_COUNT, 7);
    const size = this.dynamicSize(this.literalEncoding, huffOffset, 0);
    const numCodegens = this.numCodegens;

    // Store bytes, if we don't get a reasonable improvement.
    if (input.length <= MAX_STORE_BLOCK_SIZE && (input.length + 5) * 8 < size + (size >> 4)) {
      this.writeStoredHeader(input.length, eof);
      this.writeBytes(input);
      return;
    }

    // Huffman.
    this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
    const encoding = this.literalEncoding.codes;
    const outLimit = OUT_LIMIT; // a local, see writeTokens
    const outView = this.outView;
    let pos = this.pos;
    let acc = this.acc;
    let nbits = this.nbits;
    for (let i = 0; i < input.length; i++) {
      const c = encoding[input[i]!]!;
      const v = c & 0xffff;
      const nb = c >>> 16;
      acc |= v << nbits;
      nbits += nb;
      if (nbits >= 32) {
        outView.setInt32(pos, acc, true);
        pos += 4;
        nbits -= 32;
        acc = v >>> (nb - nbits);
        if (pos >= outLimit) {
          this.pos = pos;
          this.drain();
          pos = 0;
        }
      }
    }
    this.pos = pos;
    this.acc = acc;
    this.nbits = nbits;
    const eob = encoding[END_BLOCK_MARKER]!;
    this.writeBits(eob & 0xffff, eob >>> 16);
  }
}
