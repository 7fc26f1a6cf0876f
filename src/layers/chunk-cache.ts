import type { ChunkId } from "../store/chunk-id.js";

/**
 * Decoded chunks of rebuilt blobs, bounded in bytes. Popular layers (a base image under many
 * apps) are pulled again and again; serving their chunks from memory skips the pack reads and
 * the decompression, which cost more CPU than anything else in a pull (BENCHMARKS.md). Only
 * chunks known to be right are put here: those a read decoded and checked against their ids, or
 * those an ingest just hashed into their ids.
 *
 * Chunks are kept in groups, the chunks of one `putAll` (a decoded batch) copied back to back
 * into one buffer: a blob served from the cache goes out in large pieces, and a view into the
 * decoded batch would keep all of it alive however few of its chunks stay. A group is the unit
 * of eviction: least recently used out first; but a full cache takes a new group only if its
 * chunks were asked for more often, lately, than those of the group it would push out (TinyLFU:
 * Einziger, Friedman and Manes, 2017). Pulls sweep whole layers: under plain LRU, layers that do
 * not fit together evict each other before any chunk is asked for again, and every read misses;
 * with admission the cache keeps a steady share of them, and a layer pulled once does not push
 * out the ones pulled every time.
 */
export class ChunkCache {
  readonly #capacity: number;
  readonly #entries = new Map<string, { chunk: Buffer; group: Group }>();
  /** Groups, least recently used first. */
  readonly #groups = new Set<Group>();
  readonly #frequency: FrequencySketch;
  /** Bytes of the groups held. */
  #bytes = 0;
  /** Lookups that found their chunk, and those that did not (serve's metrics read them). */
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.#capacity = capacityBytes;
    this.#frequency = new FrequencySketch(capacityBytes / SKETCH_BYTES_PER_COUNTER);
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether `bytes` more fit without pushing anything out: a batch that does is kept (putAll), uncopied if handed over. */
  hasRoomFor(bytes: number): boolean {
    return this.#bytes + bytes <= this.#capacity;
  }

  get(id: ChunkId): Buffer | undefined {
    const key = id.toString("latin1");
    this.#frequency.add(key);
    const chunk = this.#touch(key);
    if (chunk === undefined) this.misses++;
    else this.hits++;
    return chunk;
  }

  /**
   * A second look for a chunk `get` missed moments ago, which may have come in meanwhile (a site
   * puts each chunk it fetches here): not counted, so that each chunk a read wants counts once.
   */
  getAgain(id: ChunkId): Buffer | undefined {
    return this.#touch(id.toString("latin1"));
  }

  /** Keeps a copy of a chunk, as a group of one (see putAll). */
  put(id: ChunkId, chunk: Uint8Array): void {
    this.putAll([id], [chunk]);
  }

  /**
   * Keeps copies of those of these chunks not held yet, as one group, if it is admitted (see the
   * class). With `adopt`, the caller hands over the buffer the chunks are views of: when they
   * fill it exactly, back to back, and all are kept, it becomes the group's buffer, uncopied
   * (and then putAll answers true).
   */
  putAll(ids: readonly ChunkId[], chunks: readonly Uint8Array[], { adopt = false } = {}): boolean {
    const keys: string[] = [];
    const seen = new Set<string>();
    const taken: Uint8Array[] = [];
    let total = 0;
    ids.forEach((id, i) => {
      const key = id.toString("latin1");
      if (this.#entries.has(key) || seen.has(key)) return;
      seen.add(key);
      keys.push(key);
      taken.push(chunks[i]!);
      total += chunks[i]!.length;
    });
    if (total === 0 || total > this.#capacity) return false;
    if (!this.hasRoomFor(total)) {
      const victim = this.#groups.values().next().value;
      if (victim !== undefined && this.#frequency.mean(keys) <= this.#frequency.mean(victim.keys)) return false;
    }
    const group: Group = { keys, bytes: total };
    const adopted = adopt && taken.length === chunks.length && fillExactly(taken);
    if (adopted) {
      keys.forEach((key, i) => this.#entries.set(key, { chunk: Buffer.from(taken[i]!.buffer, taken[i]!.byteOffset, taken[i]!.length), group }));
    } else {
      const buffer = Buffer.allocUnsafeSlow(total);
      let at = 0;
      keys.forEach((key, i) => {
        buffer.set(taken[i]!, at);
        this.#entries.set(key, { chunk: buffer.subarray(at, (at += taken[i]!.length)), group });
      });
    }
    this.#groups.add(group);
    this.#bytes += total;
    for (const oldest of this.#groups) {
      if (this.#bytes <= this.#capacity) break;
      this.#groups.delete(oldest);
      for (const key of oldest.keys) this.#entries.delete(key);
      this.#bytes -= oldest.bytes;
    }
    return adopted;
  }

  /** The chunk, its group moved to the young end. */
  #touch(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    // Re-inserting moves the group to the young end of the Set's insertion order.
    this.#groups.delete(entry.group);
    this.#groups.add(entry.group);
    return entry.chunk;
  }
}

/** Whether the chunks are views that fill one buffer, back to back from its start to its end. */
function fillExactly(chunks: readonly Uint8Array[]): boolean {
  let at = 0;
  for (const chunk of chunks) {
    if (chunk.buffer !== chunks[0]!.buffer || chunk.byteOffset !== at) return false;
    at += chunk.length;
  }
  return at === chunks[0]!.buffer.byteLength;
}

/** The chunks kept in one buffer (the keys of their ids), and its size. */
interface Group {
  keys: string[];
  bytes: number;
}

/** One counter of the frequency sketch per this many bytes of capacity: about four per chunk held. */
const SKETCH_BYTES_PER_COUNTER = 4096;
const SKETCH_ROWS = 4;
/** Counters saturate here (4 bits' worth, as in TinyLFU). */
const MAX_COUNT = 15;

/**
 * How often each chunk was asked for lately, approximately, in fixed memory: a count-min sketch
 * (each of four rows counts at a place picked by one 32-bit word of the chunk's id, itself a
 * SHA-256, so no other hashing is needed), halved every ten adds per counter so that old
 * popularity fades. Chunks are named by their ids as latin1 strings (a byte per character).
 */
class FrequencySketch {
  readonly #mask: number;
  readonly #rows: Uint8Array[];
  #adds = 0;
  readonly #halveAfter: number;

  constructor(counters: number) {
    const width = 2 ** Math.max(10, Math.ceil(Math.log2(Math.max(1, counters))));
    this.#mask = width - 1;
    this.#rows = Array.from({ length: SKETCH_ROWS }, () => new Uint8Array(width));
    this.#halveAfter = 10 * width;
  }

  add(key: string): void {
    this.#rows.forEach((row, r) => {
      const at = this.#place(key, r);
      if (row[at]! < MAX_COUNT) row[at]!++;
    });
    if (++this.#adds >= this.#halveAfter) {
      for (const row of this.#rows) for (let i = 0; i < row.length; i++) row[i]! >>= 1;
      this.#adds /= 2;
    }
  }

  /** The mean of the chunks' estimated counts. */
  mean(keys: readonly string[]): number {
    let sum = 0;
    for (const key of keys) {
      let least = MAX_COUNT;
      this.#rows.forEach((row, r) => (least = Math.min(least, row[this.#place(key, r)]!)));
      sum += least;
    }
    return sum / keys.length;
  }

  #place(key: string, row: number): number {
    const at = 4 * row;
    return (key.charCodeAt(at) | (key.charCodeAt(at + 1) << 8) | (key.charCodeAt(at + 2) << 16) | (key.charCodeAt(at + 3) << 24)) & this.#mask;
  }
}
