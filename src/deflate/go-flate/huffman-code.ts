// Port of Go's compress/flate huffman_code.go (Go 1.8-1.26). Copyright The Go Authors; BSD-style
// licence (see Go's LICENSE file).
//
// An hcode is packed as `code | len << 16` in an Int32Array (code already bit-reversed, ready to be
// written LSB first). Go sorts literalNode{literal, freq} "by freq, then literal" (a total order, so
// any sort algorithm gives the same result); here a node is the key freq * 512 + literal, so plain
// numeric order is Go's order.

import { MAX_NUM_LIT } from "./tables.js";

const MAX_BITS_LIMIT = 16;
const MAX_INT32 = 0x7fffffff;
const LIT_SCALE = 512; // literal < 512; freq < 2^22 keeps keys below 2^31

/** bits.Reverse16(number << (16 - bitLength)) */
export function reverseBits(number: number, bitLength: number): number {
  let v = number & 0xffff;
  let r = 0;
  for (let i = 0; i < bitLength; i++) {
    r = (r << 1) | (v & 1);
    v >>>= 1;
  }
  return r;
}

export class HuffmanEncoder {
  /** code | len << 16 per symbol. */
  readonly codes: Int32Array;
  private readonly bitCount = new Int32Array(17);
  private readonly keys = new Int32Array(MAX_NUM_LIT + 1);
  private readonly listLit = new Int32Array(MAX_NUM_LIT + 1);
  private readonly listFreq = new Int32Array(MAX_NUM_LIT + 1);
  private readonly chunk = new Int32Array(MAX_NUM_LIT + 1);
  // levelInfo per level (bitCounts), and the leaf counts (see bitCounts).
  private readonly lvLastFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNextCharFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNextPairFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNeeded = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly leafOwn = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly leafPrefix = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly counts = new Int32Array(MAX_BITS_LIMIT + 1);
  // Each pair taken at a level makes one node; a level takes at most 2n items.
  private readonly nodeVal: Int32Array;
  private readonly nodeParent: Int32Array;

  constructor(size: number) {
    this.codes = new Int32Array(size);
    this.nodeVal = new Int32Array((MAX_BITS_LIMIT + 1) * 2 * (size + 1));
    this.nodeParent = new Int32Array((MAX_BITS_LIMIT + 1) * 2 * (size + 1));
  }

  bitLength(freq: Int32Array, n: number): number {
    const codes = this.codes;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const f = freq[i]!;
      if (f !== 0) total += f * (codes[i]! >>> 16);
    }
    return total;
  }

  /**
   * bitCounts computes the number of literals assigned to each bit size in the Huffman encoding.
   * It is only called when the list has >= 3 entries (listLit/listFreq[0..n), in order of
   * increasing frequency); the cases of 0, 1, and 2 literals are handled by special case code.
   * maxBits is the maximum number of bits that should be used to encode any literal (< 16).
   * Returns bitCount, where bitCount[i] is the number of literals encoded with i bits, and the
   * (possibly reduced) maxBits.
   */
  private bitCounts(n: number, maxBits: number): number {
    const listFreq = this.listFreq;
    listFreq[n] = MAX_INT32; // maxNode()
    // The tree can't have greater depth than n - 1, no matter what. This saves a little bit of
    // work in some small cases.
    if (maxBits > n - 1) maxBits = n - 1;

    // Create information about each of the levels. A bogus "Level 0" whose sole purpose is so
    // that level1.prev.needed==0. This makes level1.nextPairFreq be a legitimate value that
    // never gets chosen.
    const lastFreq = this.lvLastFreq;
    const nextCharFreq = this.lvNextCharFreq;
    const nextPairFreq = this.lvNextPairFreq;
    const needed = this.lvNeeded;
    lastFreq.fill(0);
    nextCharFreq.fill(0);
    nextPairFreq.fill(0);
    needed.fill(0);
    // Go's leafCounts[i] counts the number of literals at the left of ancestors of the rightmost
    // node at level i; leafCounts[i][j] is the number of literals at the left of the level j
    // ancestor. Taking a pair copies row i-1's entries 0..i-1 into row i. Here row i is its own
    // entry leafCount[i] plus a shared, immutable chain of entries i-1, i-2, ..., 1 (node values
    // and parents in a pool; -1 is a chain of zeros; entry 0 is always 0): a pair makes one node.
    const own = this.leafOwn;
    const prefix = this.leafPrefix;
    const nodeVal = this.nodeVal;
    const nodeParent = this.nodeParent;
    let nodes = 0;

    for (let level = 1; level <= maxBits; level++) {
      // For every level, the first two items are the first two characters. We initialize the
      // levels as if we had already figured this out.
      lastFreq[level] = listFreq[1]!;
      nextCharFreq[level] = listFreq[2]!;
      nextPairFreq[level] = listFreq[0]! + listFreq[1]!;
      own[level] = 2;
      prefix[level] = -1;
      if (level === 1) nextPairFreq[level] = MAX_INT32;
    }

    // We need a total of 2*n - 2 items at top level and have already generated 2.
    needed[maxBits] = 2 * n - 4;

    let level = maxBits;
    for (;;) {
      if (nextPairFreq[level] === MAX_INT32 && nextCharFreq[level] === MAX_INT32) {
        // We've run out of both leaves and pairs. End all calculations for this level. To make
        // sure we never come back to this level or any lower level, set nextPairFreq impossibly
        // large.
        needed[level] = 0;
        nextPairFreq[level + 1] = MAX_INT32;
        level++;
        continue;
      }

      const prevFreq = lastFreq[level]!;
      if (nextCharFreq[level]! < nextPairFreq[level]!) {
        // The next item on this row is a leaf node.
        const k = own[level]! + 1;
        lastFreq[level] = nextCharFreq[level]!;
        // Lower leafCounts are the same of the previous node.
        own[level] = k;
        nextCharFreq[level] = listFreq[k]!;
      } else {
        // The next item on this row is a pair from the previous row. nextPairFreq isn't valid
        // until we generate two more values in the level below.
        lastFreq[level] = nextPairFreq[level]!;
        // Take leaf counts from the lower level, except counts[level] remains the same.
        nodeVal[nodes] = own[level - 1]!;
        nodeParent[nodes] = prefix[level - 1]!;
        prefix[level] = nodes++;
        needed[level - 1] = 2;
      }

      if (--needed[level]! === 0) {
        // We've done everything we need to do for this level. Continue calculating one level
        // up. Fill in nextPairFreq of that level with the sum of the two nodes we've just
        // calculated on this level.
        if (level === maxBits) break; // All done!
        nextPairFreq[level + 1] = prevFreq + lastFreq[level]!;
        level++;
      } else {
        // If we stole from below, move down temporarily to replenish it.
        while (needed[level - 1]! > 0) level--;
      }
    }

    // Something is wrong if at the end, the top level is null or hasn't used all of the leaves.
    if (own[maxBits] !== n) throw new Error("flate: leafCounts[maxBits][maxBits] != n");

    // counts := &leafCounts[maxBits], entries maxBits .. 0.
    const counts = this.counts;
    counts[maxBits] = own[maxBits]!;
    let node = prefix[maxBits]!;
    for (let lv = maxBits - 1; lv >= 0; lv--) {
      if (node >= 0 && lv > 0) {
        counts[lv] = nodeVal[node]!;
        node = nodeParent[node]!;
      } else counts[lv] = 0;
    }
    const bitCount = this.bitCount;
    let bits = 1;
    for (let lv = maxBits; lv > 0; lv--) {
      // chain.leafCount gives the number of literals requiring at least "bits" bits to encode.
      bitCount[bits] = counts[lv]! - counts[lv - 1]!;
      bits++;
    }
    return maxBits;
  }

  /** Look at the leaves and assign them a bit count and an encoding as specified in RFC 1951 3.2.2. */
  private assignEncodingAndSize(maxBits: number, n: number): void {
    const bitCount = this.bitCount;
    const listLit = this.listLit;
    const chunk = this.chunk;
    const codes = this.codes;
    let code = 0;
    let len = n;
    for (let nb = 0; nb <= maxBits; nb++) {
      code = (code << 1) & 0xffff;
      const bits = bitCount[nb]!;
      if (nb === 0 || bits === 0) continue;
      // The literals list[len(list)-bits] .. list[len(list)-bits] are encoded using "bits" bits,
      // and get the values code, code + 1, .... The code values are assigned in literal order
      // (not frequency order).
      for (let i = 0; i < bits; i++) chunk[i] = listLit[len - bits + i]!;
      const sorted = chunk.subarray(0, bits).sort();
      for (let i = 0; i < bits; i++) {
        codes[sorted[i]!] = reverseBits(code, nb) | (nb << 16);
        code = (code + 1) & 0xffff;
      }
      len -= bits;
    }
  }

  /**
   * Update this Huffman Code object to be the minimum code for the specified frequency count.
   * freq[i] gives the frequency of literal i, for i < n. maxBits: the maximum number of bits to
   * use for any literal.
   */
  generate(freq: Int32Array, n: number, maxBits: number): void {
    const keys = this.keys;
    const codes = this.codes;
    // Number of non-zero literals
    let count = 0;
    // Set list to be the set of all non-zero literals and their frequencies
    for (let i = 0; i < n; i++) {
      const f = freq[i]!;
      if (f !== 0) keys[count++] = f * LIT_SCALE + i;
      else codes[i] = codes[i]! & 0xffff; // h.codes[i].len = 0
    }
    if (count <= 2) {
      // Handle the small cases here, because they are awkward for the general case code. With
      // two or fewer literals, everything has bit length 1. "list" is in order of increasing
      // literal value.
      for (let i = 0; i < count; i++) codes[keys[i]! % LIT_SCALE] = i | (1 << 16);
      return;
    }
    keys.subarray(0, count).sort();
    const listLit = this.listLit;
    const listFreq = this.listFreq;
    for (let i = 0; i < count; i++) {
      const k = keys[i]!;
      listLit[i] = k % LIT_SCALE;
      listFreq[i] = (k - (k % LIT_SCALE)) / LIT_SCALE;
    }
    // Get the number of literals for each bit count
    const maxB = this.bitCounts(count, maxBits);
    // And do the assignment
    this.assignEncodingAndSize(maxB, count);
  }
}

/** Generates a HuffmanCode corresponding to the fixed literal table. */
function generateFixedLiteralEncoding(): HuffmanEncoder {
  const h = new HuffmanEncoder(MAX_NUM_LIT);
  const codes = h.codes;
  for (let ch = 0; ch < MAX_NUM_LIT; ch++) {
    let bits: number;
    let size: number;
    if (ch < 144) {
      // size 8, 000110000  .. 10111111
      bits = ch + 48;
      size = 8;
    } else if (ch < 256) {
      // size 9, 110010000 .. 111111111
      bits = ch + 400 - 144;
      size = 9;
    } else if (ch < 280) {
      // size 7, 0000000 .. 0010111
      bits = ch - 256;
      size = 7;
    } else {
      // size 8, 11000000 .. 11000111
      bits = ch + 192 - 280;
      size = 8;
    }
    codes[ch] = reverseBits(bits, size) | (size << 16);
  }
  return h;
}

function generateFixedOffsetEncoding(): HuffmanEncoder {
  const h = new HuffmanEncoder(30);
  for (let ch = 0; ch < 30; ch++) h.codes[ch] = reverseBits(ch, 5) | (5 << 16);
  return h;
}

export const fixedLiteralEncoding = generateFixedLiteralEncoding();
export const fixedOffsetEncoding = generateFixedOffsetEncoding();
