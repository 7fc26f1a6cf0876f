// Port of github.com/klauspost/compress v1.15.12 flate/huffman_code.go, huffman_sortByFreq.go and
// huffman_sortByLiteral.go. Copyright The Go Authors and Klaus Post; BSD-style licence (see the
// LICENSE file of github.com/klauspost/compress).
//
// An hcode is len | code << 8 (code bit-reversed, ready to be written LSB first), 0 for an unused symbol.
// A literalNode {literal, freq} is packed as freq << 16 | literal in a Uint32Array, so that Go's "freq, then
// literal" order is plain numeric order.

import { LITERAL_COUNT, MAX_BITS_LIMIT } from "./tables.js";

const MAX_INT32 = 0x7fffffff;

export function reverseBits(number: number, bitLength: number): number {
  // bits.Reverse16(number << (16 - bitLength))
  let v = (number << ((16 - bitLength) & 15)) & 0xffff;
  let r = 0;
  for (let i = 0; i < 16; i++) {
    r = (r << 1) | (v & 1);
    v >>>= 1;
  }
  return r;
}

export function newhcode(code: number, length: number): number {
  return (length | (code << 8)) >>> 0;
}

export class HuffmanEncoder {
  readonly codes: Uint32Array;
  /** bitCounts' result: bitCount[k] literals get k bits. */
  readonly bitCount = new Int32Array(17);
  private readonly freqcache = new Uint32Array(LITERAL_COUNT + 1);
  // bitCounts scratch
  private readonly rowLen = new Int32Array(MAX_BITS_LIMIT + 1);
  private rowFreq = new Int32Array(0);
  private rowLeaves = new Int32Array(0);
  // assignEncodingAndSize scratch: each literal's code length, and the next code of each length
  private readonly lengthOf: Uint8Array;
  private readonly nextCode = new Int32Array(17);

  constructor(size: number) {
    this.codes = new Uint32Array(size);
    this.lengthOf = new Uint8Array(size);
  }

  /** Sum of freq[i] * len(code i). */
  bitLength(freq: Uint16Array, count: number): number {
    const codes = this.codes;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const f = freq[i]!;
      if (f !== 0) total += f * (codes[i]! & 0xff);
    }
    return total;
  }

  /** Sum of the code lengths of the bytes b[start:end). */
  bitLengthRaw(b: Uint8Array, start: number, end: number): number {
    const codes = this.codes;
    let total = 0;
    for (let i = start; i < end; i++) total += codes[b[i]!]! & 0xff;
    return total;
  }

  /** The number of bits, or MaxInt32 if a used symbol has no code. */
  canReuseBits(freq: Uint16Array, count: number): number {
    const codes = this.codes;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const f = freq[i]!;
      if (f !== 0) {
        const code = codes[i]!;
        if (code === 0) return MAX_INT32;
        total += f * (code & 0xff);
      }
    }
    return total;
  }

  /**
   * Number of literals for each bit length (bitCounts in huffman_code.go). list[0:n) holds the nodes sorted by
   * frequency. Fills this.bitCount[1..maxBits] and returns maxBits.
   *
   * Go's bitCounts is a lazy package-merge: row `level` is the merge, by frequency, of the leaves and of the
   * pairs of consecutive items of row level-1 (a pair first on equal frequencies; row 1 has leaves only), and
   * Go makes each row only as far as the row above asks: 2n - 2 items at maxBits, and two items of row
   * level-1 for each pair taken at `level`. Its counts (leafCounts[maxBits][level]) are the leaves within
   * those prefixes. Here each row is merged whole, one after the other (sequential loops instead of Go's
   * moves between levels), and the prefixes are then walked down from maxBits: the same counts.
   */
  private bitCounts(list: Uint32Array, n: number, maxBits: number): number {
    if (maxBits >= MAX_BITS_LIMIT) throw new Error("flate: maxBits too large");
    // The tree can't have greater depth than n - 1, no matter what.
    if (maxBits > n - 1) maxBits = n - 1;

    // Row `level` at [level * stride, ...): rowFreq the items' frequencies, rowLeaves[k] the leaves among
    // its first k items. A row has fewer than 2n items (the n leaves and at most n - 1 pairs).
    const stride = 2 * n;
    const size = (maxBits + 1) * stride + 1;
    if (this.rowFreq.length < size) {
      this.rowFreq = new Int32Array(size);
      this.rowLeaves = new Int32Array(size);
    }
    const rowFreq = this.rowFreq;
    const rowLeaves = this.rowLeaves;
    const rowLen = this.rowLen;

    let base = stride;
    rowLeaves[base] = 0;
    for (let i = 0; i < n; i++) {
      rowFreq[base + i] = list[i]! >>> 16;
      rowLeaves[base + i + 1] = i + 1;
    }
    rowLen[1] = n;
    for (let level = 2; level <= maxBits; level++) {
      const below = base;
      const pairs = rowLen[level - 1]! >> 1;
      base += stride;
      rowLeaves[base] = 0;
      let leaf = 0;
      let pair = 0;
      let k = 0;
      for (;;) {
        const leafFreq = leaf < n ? list[leaf]! >>> 16 : MAX_INT32;
        const pairFreq = pair < pairs ? rowFreq[below + 2 * pair]! + rowFreq[below + 2 * pair + 1]! : MAX_INT32;
        if (leafFreq === MAX_INT32 && pairFreq === MAX_INT32) break;
        if (leafFreq < pairFreq) {
          rowFreq[base + k] = leafFreq;
          leaf++;
        } else {
          rowFreq[base + k] = pairFreq;
          pair++;
        }
        k++;
        rowLeaves[base + k] = leaf;
      }
      rowLen[level] = k;
    }

    const bitCount = this.bitCount;
    // We need a total of 2*n - 2 items at top level.
    let items = 2 * n - 2;
    let count = rowLeaves[maxBits * stride + items]!;
    if (count !== n) throw new Error("leafCounts[maxBits][maxBits] != n");
    let bits = 1;
    for (let lv = maxBits; lv > 0; lv--) {
      // The pairs among row lv's items take twice as many items of row lv-1.
      items = 2 * (items - count);
      const countBelow = lv > 1 ? rowLeaves[(lv - 1) * stride + items]! : 0;
      // The number of literals requiring at least "bits" bits to encode: counts[lv] - counts[lv-1].
      bitCount[bits] = count - countBelow;
      count = countBelow;
      bits++;
    }
    return maxBits;
  }

  /**
   * Assigns codes, in literal order within each length, as RFC 1951 3.2.2. Go sorts the literals of each
   * length (sortByLiteral) and numbers them from that length's first code; numbering all literals in one
   * pass in literal order, each from its length's next code, gives the same codes without the sorts.
   */
  private assignEncodingAndSize(maxBits: number, list: Uint32Array, listLen: number, freq: Uint16Array, count: number): void {
    const bitCount = this.bitCount;
    const codes = this.codes;
    const nextCode = this.nextCode;
    const lengthOf = this.lengthOf;
    let code = 0;
    for (let n = 0; n <= maxBits; n++) {
      const bits = bitCount[n]!;
      code = (code << 1) & 0xffff;
      if (n === 0 || bits === 0) continue;
      // The literals list[len(list)-bits] .. list[len(list)-1] get "bits" bits.
      const start = listLen - bits;
      for (let i = start; i < listLen; i++) lengthOf[list[i]! & 0xffff] = n;
      nextCode[n] = code;
      code = (code + bits) & 0xffff;
      listLen = start;
    }
    for (let i = 0; i < count; i++) {
      if (freq[i] === 0) continue;
      const n = lengthOf[i]!;
      const c = nextCode[n]!;
      codes[i] = newhcode(reverseBits(c, n), n);
      nextCode[n] = (c + 1) & 0xffff;
    }
  }

  /** Makes this the minimum code for freq[0:count) with code lengths up to maxBits. */
  generate(freq: Uint16Array, count: number, maxBits: number): void {
    const list = this.freqcache;
    const codes = this.codes;
    let n = 0;
    for (let i = 0; i < count; i++) {
      const f = freq[i]!;
      if (f !== 0) list[n++] = ((f << 16) | i) >>> 0;
      else codes[i] = 0;
    }
    list[n] = 0;
    if (n <= 2) {
      // With two or fewer literals, everything has bit length 1 ("list" is in literal order).
      for (let i = 0; i < n; i++) codes[list[i]! & 0xffff] = newhcode(i, 1);
      return;
    }
    sortByFreq(list, n);
    const mb = this.bitCounts(list, n, maxBits);
    this.assignEncodingAndSize(mb, list, n, freq, count);
  }
}

// ---- huffman_sortByFreq.go: Go's old sort.Sort (pdqsort-less quicksort) on (freq, literal). ----
// Keys are unique, so any correct sort would do, except that Go's quickSortByFreq falls back to heapSort,
// which orders by literal only (it is the sortByLiteral heapSort); ported as is to stay exact if that happens.

function sortByFreq(data: Uint32Array, n: number): void {
  quickSortByFreq(data, 0, n, maxDepth(n));
}

function maxDepth(n: number): number {
  let depth = 0;
  for (let i = n; i > 0; i >>= 1) depth++;
  return depth * 2;
}

function swap(d: Uint32Array, i: number, j: number): void {
  const t = d[i]!;
  d[i] = d[j]!;
  d[j] = t;
}

function quickSortByFreq(data: Uint32Array, a: number, b: number, maxDepth: number): void {
  while (b - a > 12) {
    if (maxDepth === 0) {
      heapSort(data, a, b);
      return;
    }
    maxDepth--;
    const [mlo, mhi] = doPivotByFreq(data, a, b);
    if (mlo - a < b - mhi) {
      quickSortByFreq(data, a, mlo, maxDepth);
      a = mhi;
    } else {
      quickSortByFreq(data, mhi, b, maxDepth);
      b = mlo;
    }
  }
  if (b - a > 1) {
    // Do ShellSort pass with gap 6
    for (let i = a + 6; i < b; i++) {
      if (data[i]! < data[i - 6]!) swap(data, i, i - 6);
    }
    for (let i = a + 1; i < b; i++) {
      for (let j = i; j > a && data[j]! < data[j - 1]!; j--) swap(data, j, j - 1);
    }
  }
}

function medianOfThreeSortByFreq(data: Uint32Array, m1: number, m0: number, m2: number): void {
  if (data[m1]! < data[m0]!) swap(data, m1, m0);
  if (data[m2]! < data[m1]!) {
    swap(data, m2, m1);
    if (data[m1]! < data[m0]!) swap(data, m1, m0);
  }
}

function doPivotByFreq(data: Uint32Array, lo: number, hi: number): [number, number] {
  const m = (lo + hi) >>> 1;
  if (hi - lo > 40) {
    // Tukey's ``Ninther,'' median of three medians of three.
    const s = Math.trunc((hi - lo) / 8);
    medianOfThreeSortByFreq(data, lo, lo + s, lo + 2 * s);
    medianOfThreeSortByFreq(data, m, m - s, m + s);
    medianOfThreeSortByFreq(data, hi - 1, hi - 1 - s, hi - 1 - 2 * s);
  }
  medianOfThreeSortByFreq(data, lo, m, hi - 1);

  const pivot = lo;
  let a = lo + 1;
  let c = hi - 1;
  for (; a < c && data[a]! < data[pivot]!; a++);
  let b = a;
  for (;;) {
    for (; b < c && data[pivot]! > data[b]!; b++);
    for (; b < c && data[pivot]! < data[c - 1]!; c--);
    if (b >= c) break;
    swap(data, b, c - 1);
    b++;
    c--;
  }
  let protect = hi - c < 5;
  if (!protect && hi - c < Math.trunc((hi - lo) / 4)) {
    let dups = 0;
    if (data[pivot]! > data[hi - 1]!) {
      swap(data, c, hi - 1);
      c++;
      dups++;
    }
    if (data[b - 1]! > data[pivot]!) {
      b--;
      dups++;
    }
    if (data[m]! > data[pivot]!) {
      swap(data, m, b - 1);
      b--;
      dups++;
    }
    protect = dups > 1;
  }
  if (protect) {
    for (;;) {
      for (; a < b && data[b - 1]! > data[pivot]!; b--);
      for (; a < b && data[a]! < data[pivot]!; a++);
      if (a >= b) break;
      swap(data, a, b - 1);
      a++;
      b--;
    }
  }
  swap(data, pivot, b - 1);
  return [b - 1, c];
}

// ---- huffman_sortByLiteral.go: its heapSort, which quickSortByFreq falls back to (assignEncodingAndSize
// no longer sorts by literal). ----

function lit(v: number): number {
  return v & 0xffff;
}

function heapSort(data: Uint32Array, a: number, b: number): void {
  const first = a;
  const lo = 0;
  const hi = b - a;
  for (let i = Math.trunc((hi - 1) / 2); i >= 0; i--) siftDown(data, i, hi, first);
  for (let i = hi - 1; i >= 0; i--) {
    swap(data, first, first + i);
    siftDown(data, lo, i, first);
  }
}

function siftDown(data: Uint32Array, lo: number, hi: number, first: number): void {
  let root = lo;
  for (;;) {
    let child = 2 * root + 1;
    if (child >= hi) break;
    if (child + 1 < hi && lit(data[first + child]!) < lit(data[first + child + 1]!)) child++;
    if (lit(data[first + root]!) > lit(data[first + child]!)) return;
    swap(data, first + root, first + child);
    root = child;
  }
}

/** The fixed literal/length code of RFC 1951 3.2.6. */
export const fixedLiteralEncoding = ((): HuffmanEncoder => {
  const h = new HuffmanEncoder(LITERAL_COUNT);
  for (let ch = 0; ch < LITERAL_COUNT; ch++) {
    let bits: number;
    let size: number;
    if (ch < 144) {
      bits = ch + 48;
      size = 8;
    } else if (ch < 256) {
      bits = ch + 400 - 144;
      size = 9;
    } else if (ch < 280) {
      bits = ch - 256;
      size = 7;
    } else {
      bits = ch + 192 - 280;
      size = 8;
    }
    h.codes[ch] = newhcode(reverseBits(bits, size), size);
  }
  return h;
})();

export const fixedOffsetEncoding = ((): HuffmanEncoder => {
  const h = new HuffmanEncoder(30);
  for (let ch = 0; ch < 30; ch++) h.codes[ch] = newhcode(reverseBits(ch, 5), 5);
  return h;
})();
