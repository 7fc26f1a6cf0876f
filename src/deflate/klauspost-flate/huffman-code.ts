// Port of github.com/klauspost/compress v1.15.12 flate/huffman_code.go, huffman_sortByFreq.go and
// huffman_sortByLiteral.go. Copyright The Go Authors and Klaus Post; BSD-style licence (see the
// LICENSE file of github.com/klauspost/compress).
//
// An hcode is len | code << 8 (code bit-reversed, ready to be written LSB first), 0 for an unused symbol.
// A literalNode {literal, freq} is packed as freq << 16 | literal in a Uint32Array, so that Go's "freq, then
// literal" order is plain numeric order; maxNode() is 0xffffffff.

import { LITERAL_COUNT, MAX_BITS_LIMIT } from "./tables.js";

const MAX_NODE = 0xffffffff;
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
  private readonly lvLastFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNextCharFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNextPairFreq = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly lvNeeded = new Int32Array(MAX_BITS_LIMIT + 1);
  private readonly rowHead = new Int32Array(MAX_BITS_LIMIT + 1);
  private nodeCount = new Int32Array(1 << 13);
  private nodeParent = new Int32Array(1 << 13);

  constructor(size: number) {
    this.codes = new Uint32Array(size);
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
   * Number of literals for each bit length (bitCounts in huffman_code.go; Go's package-merge variant, ported
   * step by step since ties between equal frequencies decide the lengths). list[0:n) holds the nodes sorted by
   * frequency, and list[n] is free for the sentinel. Fills this.bitCount[1..maxBits] and returns maxBits.
   *
   * Go keeps leafCounts[level][j] and copies row level-1 into row level at each pair step (O(maxBits) each).
   * Here a row is a persistent chain of nodes instead: row level is (count at j = level, then row level-1 as
   * it was when the row last took a pair, for j < level), so a pair step is one new node pointing to the
   * lower row's current node, and a leaf step a new node with the count + 1 (copy-on-write, since higher
   * rows may point to the old one). Node 0 is the all-zero row. The counts read are the same as Go's.
   */
  private bitCounts(list: Uint32Array, n: number, maxBits: number): number {
    if (maxBits >= MAX_BITS_LIMIT) throw new Error("flate: maxBits too large");
    list[n] = MAX_NODE;
    // The tree can't have greater depth than n - 1, no matter what.
    if (maxBits > n - 1) maxBits = n - 1;

    const lastFreq = this.lvLastFreq;
    const nextCharFreq = this.lvNextCharFreq;
    const nextPairFreq = this.lvNextPairFreq;
    const needed = this.lvNeeded;
    const head = this.rowHead;
    for (let i = 0; i <= MAX_BITS_LIMIT; i++) {
      lastFreq[i] = 0;
      nextCharFreq[i] = 0;
      nextPairFreq[i] = 0;
      needed[i] = 0;
      head[i] = 0;
    }
    // Each step makes one item at some level (at most 2n - 2 per level) or moves up past a level with
    // nothing left, so maxBits * 2n + 32 nodes are enough.
    const maxNodes = maxBits * 2 * n + 32;
    if (this.nodeCount.length < maxNodes) {
      this.nodeCount = new Int32Array(maxNodes);
      this.nodeParent = new Int32Array(maxNodes);
    }
    const nodeCount = this.nodeCount;
    const nodeParent = this.nodeParent;
    nodeCount[0] = 0;
    nodeParent[0] = 0;
    let nodes = 1;

    const l2f = list[2]! >>> 16;
    const l1f = list[1]! >>> 16;
    const l0f = (list[0]! >>> 16) + (list[1]! >>> 16);
    for (let level = 1; level <= maxBits; level++) {
      // For every level, the first two items are the first two characters.
      lastFreq[level] = l1f;
      nextCharFreq[level] = l2f;
      nextPairFreq[level] = l0f;
      // leafCounts[level][level] = 2
      nodeCount[nodes] = 2;
      nodeParent[nodes] = 0;
      head[level] = nodes++;
      if (level === 1) nextPairFreq[level] = MAX_INT32;
    }
    // We need a total of 2*n - 2 items at top level and have already generated 2.
    needed[maxBits] = 2 * n - 4;

    let level = maxBits;
    while (level < 16) {
      if (nextPairFreq[level] === MAX_INT32 && nextCharFreq[level] === MAX_INT32) {
        // We've run out of both leafs and pairs.
        needed[level] = 0;
        nextPairFreq[level + 1] = MAX_INT32;
        level++;
        continue;
      }
      const prevFreq = lastFreq[level]!;
      const cur = head[level]!;
      if (nextCharFreq[level]! < nextPairFreq[level]!) {
        // The next item on this row is a leaf node.
        const nn = nodeCount[cur]! + 1;
        lastFreq[level] = nextCharFreq[level]!;
        // Lower leafCounts are the same of the previous node.
        nodeCount[nodes] = nn;
        nodeParent[nodes] = nodeParent[cur]!;
        head[level] = nodes++;
        const e = list[nn]!;
        nextCharFreq[level] = (e & 0xffff) < 0xffff ? e >>> 16 : MAX_INT32;
      } else {
        // The next item on this row is a pair from the previous row.
        lastFreq[level] = nextPairFreq[level]!;
        // Take leaf counts from the lower level, except counts[level] remains the same.
        nodeCount[nodes] = nodeCount[cur]!;
        nodeParent[nodes] = head[level - 1]!;
        head[level] = nodes++;
        needed[level - 1] = 2;
      }
      if (--needed[level]! === 0) {
        // We've done everything we need to do for this level.
        if (level === maxBits) break; // All done!
        nextPairFreq[level + 1] = prevFreq + lastFreq[level]!;
        level++;
      } else {
        // If we stole from below, move down temporarily to replenish it.
        while (needed[level - 1]! > 0) level--;
      }
    }
    let node = head[maxBits]!;
    if (nodeCount[node] !== n) throw new Error("leafCounts[maxBits][maxBits] != n");

    const bitCount = this.bitCount;
    let bits = 1;
    for (let lv = maxBits; lv > 0; lv--) {
      // The number of literals requiring at least "bits" bits to encode: counts[lv] - counts[lv-1].
      const parent = nodeParent[node]!;
      bitCount[bits] = nodeCount[node]! - nodeCount[parent]!;
      node = parent;
      bits++;
    }
    return maxBits;
  }

  /** Assigns codes, in literal order within each length, as RFC 1951 3.2.2. */
  private assignEncodingAndSize(maxBits: number, list: Uint32Array, listLen: number): void {
    const bitCount = this.bitCount;
    const codes = this.codes;
    let code = 0;
    for (let n = 0; n <= maxBits; n++) {
      const bits = bitCount[n]!;
      code = (code << 1) & 0xffff;
      if (n === 0 || bits === 0) continue;
      // The literals list[len(list)-bits] .. list[len(list)-1] get "bits" bits, in literal order.
      const start = listLen - bits;
      sortByLiteral(list, start, listLen);
      for (let i = start; i < listLen; i++) {
        codes[list[i]! & 0xffff] = newhcode(reverseBits(code, n), n);
        code = (code + 1) & 0xffff;
      }
      listLen = start;
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
    this.assignEncodingAndSize(mb, list, n);
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

// ---- huffman_sortByLiteral.go ----

function lit(v: number): number {
  return v & 0xffff;
}

function sortByLiteral(data: Uint32Array, a: number, b: number): void {
  quickSort(data, a, b, maxDepth(b - a));
}

function quickSort(data: Uint32Array, a: number, b: number, maxDepth: number): void {
  while (b - a > 12) {
    if (maxDepth === 0) {
      heapSort(data, a, b);
      return;
    }
    maxDepth--;
    const [mlo, mhi] = doPivot(data, a, b);
    if (mlo - a < b - mhi) {
      quickSort(data, a, mlo, maxDepth);
      a = mhi;
    } else {
      quickSort(data, mhi, b, maxDepth);
      b = mlo;
    }
  }
  if (b - a > 1) {
    for (let i = a + 6; i < b; i++) {
      if (lit(data[i]!) < lit(data[i - 6]!)) swap(data, i, i - 6);
    }
    for (let i = a + 1; i < b; i++) {
      for (let j = i; j > a && lit(data[j]!) < lit(data[j - 1]!); j--) swap(data, j, j - 1);
    }
  }
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

function medianOfThree(data: Uint32Array, m1: number, m0: number, m2: number): void {
  if (lit(data[m1]!) < lit(data[m0]!)) swap(data, m1, m0);
  if (lit(data[m2]!) < lit(data[m1]!)) {
    swap(data, m2, m1);
    if (lit(data[m1]!) < lit(data[m0]!)) swap(data, m1, m0);
  }
}

function doPivot(data: Uint32Array, lo: number, hi: number): [number, number] {
  const m = (lo + hi) >>> 1;
  if (hi - lo > 40) {
    const s = Math.trunc((hi - lo) / 8);
    medianOfThree(data, lo, lo + s, lo + 2 * s);
    medianOfThree(data, m, m - s, m + s);
    medianOfThree(data, hi - 1, hi - 1 - s, hi - 1 - 2 * s);
  }
  medianOfThree(data, lo, m, hi - 1);
  const pivot = lo;
  let a = lo + 1;
  let c = hi - 1;
  for (; a < c && lit(data[a]!) < lit(data[pivot]!); a++);
  let b = a;
  for (;;) {
    for (; b < c && lit(data[pivot]!) > lit(data[b]!); b++);
    for (; b < c && lit(data[pivot]!) < lit(data[c - 1]!); c--);
    if (b >= c) break;
    swap(data, b, c - 1);
    b++;
    c--;
  }
  let protect = hi - c < 5;
  if (!protect && hi - c < Math.trunc((hi - lo) / 4)) {
    let dups = 0;
    if (lit(data[pivot]!) > lit(data[hi - 1]!)) {
      swap(data, c, hi - 1);
      c++;
      dups++;
    }
    if (lit(data[b - 1]!) > lit(data[pivot]!)) {
      b--;
      dups++;
    }
    if (lit(data[m]!) > lit(data[pivot]!)) {
      swap(data, m, b - 1);
      b--;
      dups++;
    }
    protect = dups > 1;
  }
  if (protect) {
    for (;;) {
      for (; a < b && lit(data[b - 1]!) > lit(data[pivot]!); b--);
      for (; a < b && lit(data[a]!) < lit(data[pivot]!); a++);
      if (a >= b) break;
      swap(data, a, b - 1);
      a++;
      b--;
    }
  }
  swap(data, pivot, b - 1);
  return [b - 1, c];
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
