// Port of github.com/klauspost/compress v1.15.12 flate/huffman_bit_writer.go. Copyright The Go Authors
// and Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).
//
// Go keeps up to 64 pending bits and writes 6 bytes at a time; only the resulting bit stream matters, so
// this writer keeps fewer than 16 pending bits in a 32-bit number and appends to a growable byte buffer
// (`out[0:pos)` holds finished bytes; take them with `take()`).

import { fixedLiteralEncoding, fixedOffsetEncoding, HuffmanEncoder } from "./huffman-code.js";
import type { Tokens } from "./token.js";
import {
  BAD_CODE,
  CODEGEN_CODE_COUNT,
  codegenOrder,
  END_BLOCK_MARKER,
  LENGTH_CODES_START,
  lengthBase,
  lengthCodes,
  lengthExtraBits,
  LITERAL_COUNT,
  Lit,
  MAX_PREDEFINED_TOKENS,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_CODE_COUNT,
  offsetCombined,
  offsetExtraBits,
} from "./tables.js";

const MAX_INT32 = 0x7fffffff;

/** A static offset encoder for Huffman-only blocks (one offset code, never written). */
const huffOffset = ((): HuffmanEncoder => {
  const freq = new Uint16Array(32);
  freq[0] = 1;
  const h = new HuffmanEncoder(OFFSET_CODE_COUNT);
  h.generate(freq, OFFSET_CODE_COUNT, 15);
  return h;
})();

export class HuffmanBitWriter {
  out: Uint8Array;
  pos = 0;
  bits = 0;
  nbits = 0;

  lastHuffMan = false;
  literalEncoding = new HuffmanEncoder(LITERAL_COUNT);
  tmpLitEncoding = new HuffmanEncoder(LITERAL_COUNT);
  readonly offsetEncoding = new HuffmanEncoder(OFFSET_CODE_COUNT);
  readonly codegenEncoding = new HuffmanEncoder(CODEGEN_CODE_COUNT);
  /** Non-zero: the size of the header of the current (reusable) dynamic table, whose EOB is still owed. */
  lastHeader = 0;
  /** Set between 0 (reused block can be up to 2x the size) and 16. */
  logNewTablePenalty = 0;
  readonly literalFreq = new Uint16Array(LENGTH_CODES_START + 32);
  offsetFreq = new Uint16Array(32);
  readonly codegenFreq = new Uint16Array(CODEGEN_CODE_COUNT);
  /** codegen must have an extra space for the final symbol. */
  readonly codegen = new Uint8Array(LITERAL_COUNT + OFFSET_CODE_COUNT + 1);
  /** writeTokens' scratch: each xlength's length symbol and extra bits, and their bit count. */
  private readonly lenBits = new Int32Array(256);
  private readonly lenNBits = new Uint8Array(256);

  constructor(initialCapacity = 1 << 16) {
    this.out = new Uint8Array(Math.max(1024, initialCapacity));
  }

  /** Discards the pending bits and the reusable table (huffmanBitWriter.reset); finished bytes stay in `out`. */
  reset(): void {
    this.bits = 0;
    this.nbits = 0;
    this.lastHeader = 0;
    this.lastHuffMan = false;
  }

  /** The finished bytes so far (a copy), and the buffer emptied. */
  take(): Uint8Array {
    const bytes = this.out.slice(0, this.pos);
    this.pos = 0;
    return bytes;
  }

  /** Makes room for `more` bytes. */
  ensure(more: number): void {
    const need = this.pos + more + 16;
    if (need <= this.out.length) return;
    let size = this.out.length * 2;
    while (size < need) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.out.subarray(0, this.pos));
    this.out = grown;
  }

  private canReuse(t: Tokens): boolean {
    const offHist = t.offHist;
    const ocodes = this.offsetEncoding.codes;
    for (let i = 0; i < OFFSET_CODE_COUNT; i++) {
      if (offHist[i] !== 0 && ocodes[i] === 0) return false;
    }
    const hist = t.hist;
    const lcodes = this.literalEncoding.codes;
    for (let i = 256; i < LITERAL_COUNT; i++) {
      if (hist[i] !== 0 && lcodes[i] === 0) return false;
    }
    for (let i = 0; i < 256; i++) {
      if (hist[i] !== 0 && lcodes[i] === 0) return false;
    }
    return true;
  }

  /** Writes the owed EOB if any, then pads to a byte boundary. */
  flush(): void {
    if (this.lastHeader > 0) {
      // We owe an EOB
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
    }
    this.ensure(8);
    const out = this.out;
    while (this.nbits > 0) {
      out[this.pos++] = this.bits & 0xff;
      this.bits >>>= 8;
      this.nbits = this.nbits > 8 ? this.nbits - 8 : 0;
    }
    this.bits = 0;
    this.nbits = 0;
  }

  writeBits(b: number, nb: number): void {
    this.bits |= b << this.nbits;
    this.nbits += nb;
    if (this.nbits >= 16) {
      if (this.pos + 2 > this.out.length) this.ensure(2);
      this.out[this.pos++] = this.bits & 0xff;
      this.out[this.pos++] = (this.bits >>> 8) & 0xff;
      this.bits >>>= 16;
      this.nbits -= 16;
    }
  }

  writeCode(c: number): void {
    this.writeBits(c >>> 8, c & 0xff);
  }

  /** Appends bytes; the bit stream must be at a byte boundary. */
  writeBytes(bytes: Uint8Array): void {
    if ((this.nbits & 7) !== 0) throw new Error("flate: writeBytes with unfinished bits");
    this.ensure(bytes.length + 8);
    while (this.nbits !== 0) {
      this.out[this.pos++] = this.bits & 0xff;
      this.bits >>>= 8;
      this.nbits -= 8;
    }
    this.out.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /**
   * RFC 1951 3.2.7 run-length encoding of the code lengths of both trees, into codegen (terminated by
   * badCode), with the frequencies of each codegen symbol in codegenFreq.
   */
  private generateCodegen(numLiterals: number, numOffsets: number, litEnc: HuffmanEncoder, offEnc: HuffmanEncoder): void {
    const codegenFreq = this.codegenFreq;
    codegenFreq.fill(0);
    const codegen = this.codegen;
    const lcodes = litEnc.codes;
    for (let i = 0; i < numLiterals; i++) codegen[i] = lcodes[i]! & 0xff;
    const ocodes = offEnc.codes;
    for (let i = 0; i < numOffsets; i++) codegen[numLiterals + i] = ocodes[i]! & 0xff;
    codegen[numLiterals + numOffsets] = BAD_CODE;

    let size = codegen[0]!;
    let count = 1;
    let outIndex = 0;
    for (let inIndex = 1; size !== BAD_CODE; inIndex++) {
      // INVARIANT: We have seen "count" copies of size that have not yet had output generated for them.
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

  private codegens(): number {
    let numCodegens = CODEGEN_CODE_COUNT;
    while (numCodegens > 4 && this.codegenFreq[codegenOrder[numCodegens - 1]!] === 0) numCodegens--;
    return numCodegens;
  }

  /** Header size in bits (numCodegens is this.codegens()). */
  private headerSize(): number {
    const numCodegens = this.codegens();
    const f = this.codegenFreq;
    return 3 + 5 + 5 + 4 + 3 * numCodegens + this.codegenEncoding.bitLength(f, CODEGEN_CODE_COUNT) + f[16]! * 2 + f[17]! * 3 + f[18]! * 7;
  }

  private dynamicReuseSize(litEnc: HuffmanEncoder, offEnc: HuffmanEncoder): number {
    return litEnc.bitLength(this.literalFreq, this.literalFreq.length) + offEnc.bitLength(this.offsetFreq, 32);
  }

  private dynamicSize(litEnc: HuffmanEncoder, offEnc: HuffmanEncoder, extraBits: number): number {
    return this.headerSize() + litEnc.bitLength(this.literalFreq, this.literalFreq.length) + offEnc.bitLength(this.offsetFreq, 32) + extraBits;
  }

  /** The number of bits written as "extra" bits on matches. */
  private extraBitSize(): number {
    let total = 0;
    const lf = this.literalFreq;
    for (let i = 0; i < LITERAL_COUNT - 257; i++) total += lf[257 + i]! * lengthExtraBits[i & 31]!;
    const of = this.offsetFreq;
    for (let i = 0; i < OFFSET_CODE_COUNT; i++) total += of[i]! * offsetExtraBits[i & 31]!;
    return total;
  }

  private fixedSize(extraBits: number): number {
    return 3 + fixedLiteralEncoding.bitLength(this.literalFreq, this.literalFreq.length) + fixedOffsetEncoding.bitLength(this.offsetFreq, 30) + extraBits;
  }

  private writeDynamicHeader(numLiterals: number, numOffsets: number, numCodegens: number, isEof: boolean): void {
    this.writeBits(isEof ? 5 : 4, 3);
    this.writeBits(numLiterals - 257, 5);
    this.writeBits(numOffsets - 1, 5);
    this.writeBits(numCodegens - 4, 4);
    const cgcodes = this.codegenEncoding.codes;
    for (let i = 0; i < numCodegens; i++) this.writeBits(cgcodes[codegenOrder[i]!]! & 0xff, 3);
    const codegen = this.codegen;
    let i = 0;
    for (;;) {
      const codeWord = codegen[i++]!;
      if (codeWord === BAD_CODE) break;
      this.writeCode(cgcodes[codeWord]!);
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

  /** A stored block header; an empty final stored block is written as a fixed Huffman block (10 bits). */
  writeStoredHeader(length: number, isEof: boolean): void {
    if (this.lastHeader > 0) {
      // We owe an EOB
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
    }
    // To write EOF, use a fixed encoding block. 10 bits instead of 5 bytes.
    if (length === 0 && isEof) {
      this.writeFixedHeader(isEof);
      // EOB: 7 bits, value: 0
      this.writeBits(0, 7);
      this.flush();
      return;
    }
    this.writeBits(isEof ? 1 : 0, 3);
    this.flush();
    this.writeBits(length, 16);
    this.writeBits(~length & 0xffff, 16);
  }

  writeFixedHeader(isEof: boolean): void {
    if (this.lastHeader > 0) {
      // We owe an EOB
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
    }
    this.writeBits(isEof ? 3 : 2, 3);
  }

  /**
   * Fills literalFreq/offsetFreq from the tokens' histograms; returns numLiterals | numOffsets << 16
   * (both 0 without tokens). `filled` (a block that is not the last before a sync): all 286 + 30 code
   * lengths go in the header, so the table can be reused by the next block.
   */
  private indexTokens(t: Tokens, filled: boolean): number {
    this.literalFreq.set(t.hist);
    this.offsetFreq.set(t.offHist);
    if (t.n === 0) return 0;
    if (filled) return LITERAL_COUNT | (OFFSET_CODE_COUNT << 16);
    // get the number of literals
    const lf = this.literalFreq;
    let numLiterals = lf.length;
    while (lf[numLiterals - 1] === 0) numLiterals--;
    // get the number of offsets
    const of = this.offsetFreq;
    let numOffsets = of.length;
    while (numOffsets > 0 && of[numOffsets - 1] === 0) numOffsets--;
    if (numOffsets === 0) {
      // We haven't found a single match. If we want to go with the dynamic encoding,
      // we should count at least one offset to be sure that the offset huffman tree could be encoded.
      of[0] = 1;
      numOffsets = 1;
    }
    return numLiterals | (numOffsets << 16);
  }

  private generate(): void {
    this.literalEncoding.generate(this.literalFreq, LITERAL_COUNT, 15);
    this.offsetEncoding.generate(this.offsetFreq, OFFSET_CODE_COUNT, 15);
  }

  /**
   * Encodes a block with a dynamic Huffman table (possibly reusing the previous one), or fixed codes, or
   * stored when `input` is given and that is not larger.
   */
  writeBlockDynamic(tokens: Tokens, eof: boolean, input: Uint8Array | null, sync: boolean): void {
    sync = sync || eof;
    if (sync) tokens.addEOB();

    // We cannot reuse pure huffman table, and must mark as EOF.
    if ((this.lastHuffMan || eof) && this.lastHeader > 0) {
      // We will not try to reuse.
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
      this.lastHuffMan = false;
    }
    // Check if we can reuse...
    if (this.lastHeader > 0 && !this.canReuse(tokens)) {
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
    }

    const nums = this.indexTokens(tokens, !sync);
    const numLiterals = nums & 0xffff;
    const numOffsets = nums >>> 16;
    let extraBits = 0;
    const storable = input !== null && input.length <= MAX_STORE_BLOCK_SIZE;
    const ssize = storable ? (input.length + 5) * 8 : 0;
    if (storable || this.lastHeader > 0) extraBits = this.extraBitSize();

    let size = 0;
    // Check if we should reuse.
    if (this.lastHeader > 0) {
      // Estimate size for using a new table. Use the previous header size as the best estimate.
      let newSize = this.lastHeader + tokens.estimatedBits();
      newSize += (this.literalEncoding.codes[END_BLOCK_MARKER]! & 0xff) + (newSize >> this.logNewTablePenalty);

      // The estimated size is calculated as an optimal table.
      // We add a penalty to make it more realistic and re-use a bit more.
      const reuseSize = this.dynamicReuseSize(this.literalEncoding, this.offsetEncoding) + extraBits;

      // Check if a new table is better.
      if (newSize < reuseSize) {
        // Write the EOB we owe.
        this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
        size = newSize;
        this.lastHeader = 0;
      } else {
        size = reuseSize;
      }

      if (tokens.n < MAX_PREDEFINED_TOKENS) {
        const preSize = this.fixedSize(extraBits) + 7;
        if (preSize < size) {
          // Check if we get a reasonable size decrease.
          if (storable && ssize <= size) {
            this.writeStoredHeader(input.length, eof);
            this.writeBytes(input);
            return;
          }
          this.writeFixedHeader(eof);
          if (!sync) tokens.addEOB();
          this.writeTokens(tokens, fixedLiteralEncoding.codes, fixedOffsetEncoding.codes);
          return;
        }
      }
      // Check if we get a reasonable size decrease.
      if (storable && ssize <= size) {
        this.writeStoredHeader(input.length, eof);
        this.writeBytes(input);
        return;
      }
    }

    // We want a new block/table
    if (this.lastHeader === 0) {
      this.literalFreq[END_BLOCK_MARKER] = 1;
      this.generate();
      // Generate codegen and codegenFrequencies, which indicates how to encode
      // the literalEncoding and the offsetEncoding.
      this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, this.offsetEncoding);
      this.codegenEncoding.generate(this.codegenFreq, CODEGEN_CODE_COUNT, 7);
      const numCodegens = this.codegens();
      size = this.dynamicSize(this.literalEncoding, this.offsetEncoding, extraBits);

      // Store predefined, if we don't get a reasonable improvement.
      if (tokens.n < MAX_PREDEFINED_TOKENS) {
        const preSize = this.fixedSize(extraBits);
        if (preSize <= size) {
          // Store bytes, if we don't get an improvement.
          if (storable && ssize <= preSize) {
            this.writeStoredHeader(input.length, eof);
            this.writeBytes(input);
            return;
          }
          this.writeFixedHeader(eof);
          if (!sync) tokens.addEOB();
          this.writeTokens(tokens, fixedLiteralEncoding.codes, fixedOffsetEncoding.codes);
          return;
        }
      }

      if (storable && ssize <= size) {
        // Store bytes, if we don't get an improvement.
        this.writeStoredHeader(input.length, eof);
        this.writeBytes(input);
        return;
      }

      // Write Huffman table.
      this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
      if (!sync) this.lastHeader = this.headerSize();
      this.lastHuffMan = false;
    }

    if (sync) this.lastHeader = 0;
    // Write the tokens.
    this.writeTokens(tokens, this.literalEncoding.codes, this.offsetEncoding.codes);
  }

  /**
   * Writes the tokens with the given codes; a final EOB token is written after the others.
   *
   * Speed: the bits go through a 32-bit accumulator, written out 4 bytes at a time, and a match's length
   * symbol and extra bits are one value from lenBits/lenNBits (filled here for these codes), as in
   * go-flate/huffman-bit-writer.ts: one overflow check a literal and two a match, instead of up to four.
   * The bit stream is the same; on return fewer than 16 bits are pending again.
   */
  private writeTokens(t: Tokens, leCodes: Uint32Array, oeCodes: Uint32Array): void {
    let n = t.n;
    if (n === 0) return;
    const tokens = t.tokens;
    // Only last token should be endBlockMarker.
    let deferEOB = false;
    if (tokens[n - 1] === END_BLOCK_MARKER) {
      n--;
      deferEOB = true;
    }
    // Length symbol and its extra bits, as one value (at most 15 + 5 bits), for each xlength.
    const lenBits = this.lenBits;
    const lenNBits = this.lenNBits;
    for (let xl = 0; xl < 256; xl++) {
      const lc = lengthCodes[xl]! & 31;
      const c = leCodes[Lit.LengthCodesStart + lc]!;
      const cl = c & 0xff;
      if (lc >= Lit.LengthExtraBitsMinCode) {
        lenBits[xl] = (c >>> 8) | (((xl - lengthBase[lc]!) & 0xff) << cl);
        lenNBits[xl] = cl + lengthExtraBits[lc]!;
      } else {
        lenBits[xl] = c >>> 8;
        lenNBits[xl] = cl;
      }
    }
    // At most 48 bits a token.
    this.ensure(n * 6 + 16);
    const out = this.out;
    // Speed: a full accumulator goes out as one 32-bit store rather than four byte stores.
    const outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
    // Speed: the table as a local, loaded once (see Lit in tables.ts).
    const offsetCombinedOf = offsetCombined;
    let pos = this.pos;
    // Speed: acc stays an int32 for V8 (| 0 here, and >> for >>> below, the same on the values of fewer than
    // 31 bits shifted), or V8 keeps it as a double and converts it at every token.
    let acc = this.bits | 0;
    let nbits = this.nbits;
    for (let i = 0; i < n; i++) {
      const tok = tokens[i]!;
      let v: number;
      let nb: number;
      if (tok < 256) {
        const c = leCodes[tok]!;
        v = c >>> 8;
        nb = c & 0xff;
      } else {
        // Write the length (symbol and extra bits), flushed on its own: with the offset it can take
        // 48 bits, more than the accumulator holds.
        const length = (tok >>> Lit.LengthShift) & 0xff;
        const lv = lenBits[length]!;
        const ln = lenNBits[length]!;
        acc |= lv << nbits;
        nbits += ln;
        if (nbits >= 32) {
          outView.setInt32(pos, acc, true);
          pos += 4;
          nbits -= 32;
          acc = lv >> (ln - nbits);
        }
        // The offset (symbol and extra bits, at most 15 + 13)
        const offset = tok & 0x3fffff;
        const offsetCode = (offset >>> 16) & 31;
        const oc = oeCodes[offsetCode]!;
        v = oc >>> 8;
        nb = oc & 0xff;
        if (offsetCode >= Lit.OffsetExtraBitsMinCode) {
          const offsetComb = offsetCombinedOf[offsetCode]!;
          v |= ((offset - (offsetComb >>> 8)) & Lit.MatchOffsetOnlyMask) << nb;
          nb += offsetComb & 0xff;
        }
      }
      acc |= v << nbits;
      nbits += nb;
      if (nbits >= 32) {
        outView.setInt32(pos, acc, true);
        pos += 4;
        nbits -= 32;
        acc = v >> (nb - nbits);
      }
    }
    // Back to fewer than 16 pending bits, as the other writers keep them. Without a branch: V8 optimizes the
    // loop above (on-stack) before this has run, and a compare here, without type feedback yet, would
    // deoptimize that code at the end of every call. The two bytes are written either way (past pos they
    // are scratch, overwritten by the next writes).
    out[pos] = acc;
    out[pos + 1] = acc >>> 8;
    const flushed = nbits & 16;
    pos += flushed >>> 3;
    acc >>>= flushed;
    nbits -= flushed;
    this.pos = pos;
    this.bits = acc;
    this.nbits = nbits;
    if (deferEOB) this.writeCode(leCodes[END_BLOCK_MARKER]!);
  }

  /**
   * Each byte of `input` as its literal code. Its own function, as is `countBytes`: a loop over a
   * whole block inside writeBlockHuff made V8 compile writeBlockHuff on the loop's stack (OSR)
   * with no feedback yet for the code after it, throw that code away there, and do it again block
   * after block (90 deoptimizations in one layer's first re-creation).
   */
  private writeLiterals(input: Uint8Array): void {
    const encoding = this.literalEncoding.codes;
    const len = input.length;
    this.ensure(len * 2 + 16);
    const out = this.out;
    let pos = this.pos;
    let bits = this.bits;
    let nbits = this.nbits;
    for (let i = 0; i < len; i++) {
      const c = encoding[input[i]!]!;
      bits |= (c >>> 8) << nbits;
      nbits += c & 0xff;
      if (nbits >= 16) {
        out[pos++] = bits;
        out[pos++] = bits >>> 8;
        bits >>>= 16;
        nbits -= 16;
      }
    }
    this.pos = pos;
    this.bits = bits;
    this.nbits = nbits;
  }

  /**
   * Encodes a block of bytes as Huffman-coded literals, or stored when that gains little
   * (writeBlockHuff).
   */
  writeBlockHuff(eof: boolean, input: Uint8Array, sync: boolean): void {
    const lf = this.literalFreq;
    // Clear histogram
    lf.fill(0);
    if (!this.lastHuffMan) this.offsetFreq.fill(0);

    const numLiterals = END_BLOCK_MARKER + 1;
    const numOffsets = 1;
    // We have to estimate the header size. Assume header is around 70 bytes:
    // https://stackoverflow.com/a/25454430
    const guessHeaderSizeBits = 70 * 8;
    const len = input.length;
    countBytes(lf, input);
    const storable = len <= MAX_STORE_BLOCK_SIZE;
    const ssize = storable ? (len + 5) * 8 : 0;
    if (storable && len > 1024) {
      // Quick check for incompressible content (float64, as Go).
      let abs = 0;
      const avg = len / 256;
      const max = len * 2;
      for (let i = 0; i < 256; i++) {
        const diff = lf[i]! - avg;
        abs += diff * diff;
        if (abs > max) break;
      }
      if (abs < max) {
        // No chance we can compress this...
        this.writeStoredHeader(len, eof);
        this.writeBytes(input);
        return;
      }
    }
    lf[END_BLOCK_MARKER] = 1;
    this.tmpLitEncoding.generate(lf, numLiterals, 15);
    let estBits = this.tmpLitEncoding.canReuseBits(lf, numLiterals);
    if (estBits < MAX_INT32) {
      estBits += this.lastHeader;
      if (this.lastHeader === 0) estBits += guessHeaderSizeBits;
      estBits += estBits >> this.logNewTablePenalty;
    }

    // Store bytes, if we don't get a reasonable improvement.
    if (storable && ssize <= estBits) {
      this.writeStoredHeader(len, eof);
      this.writeBytes(input);
      return;
    }

    if (this.lastHeader > 0) {
      const reuseSize = this.literalEncoding.canReuseBits(lf, 256);
      if (estBits < reuseSize) {
        // We owe an EOB
        this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
        this.lastHeader = 0;
      }
    }

    if (this.lastHeader === 0) {
      // Use the temp encoding, so swap.
      const tmp = this.literalEncoding;
      this.literalEncoding = this.tmpLitEncoding;
      this.tmpLitEncoding = tmp;
      // Generate codegen and codegenFrequencies, which indicates how to encode the literalEncoding and the offsetEncoding.
      this.generateCodegen(numLiterals, numOffsets, this.literalEncoding, huffOffset);
      this.codegenEncoding.generate(this.codegenFreq, CODEGEN_CODE_COUNT, 7);
      const numCodegens = this.codegens();
      // Huffman.
      this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
      this.lastHuffMan = true;
      this.lastHeader = this.headerSize();
    }

    this.writeLiterals(input);

    if (eof || sync) {
      this.writeCode(this.literalEncoding.codes[END_BLOCK_MARKER]!);
      this.lastHeader = 0;
      this.lastHuffMan = false;
    }
  }
}

/** Adds each byte of `input` to its count in `freq` (see writeLiterals for why this is a function). */
function countBytes(freq: Uint16Array, input: Uint8Array): void {
  for (let i = 0; i < input.length; i++) freq[input[i]!]!++;
}
