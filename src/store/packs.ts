import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_ID_BYTES } from "./chunk-id.js";
import type { StoredChunk } from "./types.js";
import { BufferPool } from "./buffer-pool.js";

/**
 * Append-only pack files hold the chunk bytes of the embedded store (restic's design): a chunk
 * costs its bytes plus a 36-byte record header, where one LMDB value per chunk would waste
 * half a page of overflow on average. Each record is self-describing, so an index can be rebuilt
 * from the packs alone:
 *
 *   record := chunk id (32 bytes) | stored length u32 BE | stored bytes
 *
 * Each open store writes its own pack, so processes sharing a store never write the same file.
 * A crash can leave a partial record at a pack's tail; no index entry points at it.
 */
export interface PackLocation {
  pack: number;
  /** Offset of the stored bytes (past the record header). */
  offset: number;
  length: number;
}

export const RECORD_HEADER = CHUNK_ID_BYTES + 4;
const MAX_PACK_BYTES = 256 * 1024 * 1024;
const MAX_OPEN_PACKS = 128;

/**
 * Lending reads fit buffers of this size: a batch of a layer read (4 MiB of plain bytes,
 * layers/read-batches.ts) stored, with the record headers between its chunks.
 */
const READ_BUFFER_BYTES = (4 << 20) + (512 << 10);
/** Read buffers kept for reuse: the batches of a few reads on their way to be decoded. */
const READ_BUFFERS_KEPT = 8;
/**
 * Lending reads smaller than this are not lent: their garbage costs little (a batch's slices
 * take 41 bytes each), and a buffer lent for them would hold 4.5 MiB for a few KiB.
 */
const MIN_LENT_READ_BYTES = 1 << 20;

/** Record buffers of PackWriter.append: a batch of compressed chunks fits, with room to spare. */
const APPEND_BUFFER_BYTES = 8 << 20;
/** Record buffers kept for reuse: the batches of two ingests in flight at once. */
const APPEND_BUFFERS_KEPT = 8;

export function packPath(dir: string, pack: number): string {
  return join(dir, `${pack.toString(16).padStart(8, "0")}.pack`);
}

interface OpenPack {
  number: number;
  handle: FileHandle;
  size: number;
  writes: Set<Promise<unknown>>;
}

export class PackWriter {
  readonly #dir: string;
  /** Every pack this writer opened; rolled-over ones stay open (a few per GiB) until close(). */
  readonly #packs: OpenPack[] = [];
  #opening: Promise<void> | undefined;
  readonly #dirty = new Set<OpenPack>();
  #written = 0;
  #synced = 0;
  #syncing: Promise<void> | undefined;
  readonly #onOpen: (pack: number) => Promise<void>;
  readonly #onAbandon: (pack: number) => Promise<void>;
  /** The last pack takes no more appends: the next append opens a new one. */
  #rolled = false;
  readonly #appendBuffers = new BufferPool(APPEND_BUFFER_BYTES, APPEND_BUFFERS_KEPT);

  /**
   * `onOpen` hears of each new pack before its file exists (so compaction, which leaves packs a
   * writer announced alone, can never take a file this writer is about to append to);
   * `onAbandon`, of a number announced and then not used (another writer's file had it).
   */
  constructor(dir: string, onOpen: (pack: number) => Promise<void> = async () => undefined, onAbandon: (pack: number) => Promise<void> = async () => undefined) {
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.#onOpen = onOpen;
    this.#onAbandon = onAbandon;
  }

  /** The pack appends go to now, if one is open. */
  get current(): number | undefined {
    return this.#rolled ? undefined : this.#packs.at(-1)?.number;
  }

  /**
   * Appends go to a new pack from now on (compaction wants to rewrite the current one); resolves
   * once the appends already made to it are on disk. The pack it returns is no longer appended to.
   */
  async roll(): Promise<number | undefined> {
    const pack = this.current;
    this.#rolled = true;
    await this.durable();
    return pack;
  }

  /** Appends the chunks in one write; resolves once written (not yet durable: see `durable`). */
  async append(chunks: readonly StoredChunk[]): Promise<PackLocation[]> {
    let total = 0;
    for (const chunk of chunks) total += RECORD_HEADER + chunk.data.length;
    const { pack, start } = await this.#reserve(total);
    const buffer = this.#appendBuffers.take(total);
    const locations: PackLocation[] = [];
    let at = 0;
    for (const { id, data } of chunks) {
      id.copy(buffer, at);
      buffer.writeUInt32BE(data.length, at + CHUNK_ID_BYTES);
      buffer.set(data, at + RECORD_HEADER);
      locations.push({ pack: pack.number, offset: start + at + RECORD_HEADER, length: data.length });
      at += RECORD_HEADER + data.length;
    }
    const write = pack.handle.write(buffer, 0, total, start);
    pack.writes.add(write);
    this.#dirty.add(pack);
    try {
      await write;
    } finally {
      pack.writes.delete(write);
    }
    // Only after a write that succeeded: a failed one may still be reading the buffer.
    this.#appendBuffers.give(buffer);
    this.#written++;
    return locations;
  }

  /**
   * Resolves when every append that had resolved before the call is on disk. Concurrent callers
   * share one fdatasync (group commit).
   */
  async durable(): Promise<void> {
    const target = this.#written;
    while (this.#synced < target) {
      this.#syncing ??= this.#syncDirty().finally(() => (this.#syncing = undefined));
      await this.#syncing;
    }
  }

  async close(): Promise<void> {
    await this.durable();
    await Promise.all(this.#packs.map((pack) => pack.handle.close()));
    this.#packs.length = 0;
  }

  async #syncDirty(): Promise<void> {
    const covered = this.#written;
    const packs = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(
      packs.map(async (pack) => {
        await Promise.allSettled(pack.writes);
        await pack.handle.datasync();
      }),
    );
    this.#synced = Math.max(this.#synced, covered);
  }

  /** Reserves `bytes` at the end of the current pack, opening a new one when it is full. */
  async #reserve(bytes: number): Promise<{ pack: OpenPack; start: number }> {
    for (;;) {
      if (this.#opening !== undefined) {
        await this.#opening;
        continue;
      }
      const current = this.#rolled ? undefined : this.#packs.at(-1);
      if (current !== undefined && (current.size === 0 || current.size + bytes <= MAX_PACK_BYTES)) {
        const start = current.size;
        current.size += bytes;
        return { pack: current, start };
      }
      this.#opening = this.#openNew().finally(() => (this.#opening = undefined));
    }
  }

  /**
   * Pack numbers are random and the file is created exclusively, so writers in other threads or
   * processes never pick the same pack, with no shared counter to commit.
   */
  async #openNew(): Promise<void> {
    for (;;) {
      const number = randomBytes(4).readUInt32BE(0);
      await this.#onOpen(number);
      try {
        const handle = await open(packPath(this.#dir, number), "wx");
        this.#packs.push({ number, handle, size: 0, writes: new Set() });
        this.#rolled = false;
        return;
      } catch (error) {
        await this.#onAbandon(number);
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
    }
  }
}

/**
 * Reads chunks from packs, keeping recently used packs open. Reads are synchronous: a chunk is
 * usually in the page cache, where a read is a memcpy, and a thread-pool round trip per read
 * cost more main-thread time than the copy itself (BENCHMARKS.md).
 */
export class PackReader {
  readonly #dir: string;
  readonly #fds = new Map<number, number>();
  readonly #readBuffers = new BufferPool(READ_BUFFER_BYTES, READ_BUFFERS_KEPT);
  /** Buffers lent by `read`, by their memory, with how many of their chunks are not back yet. */
  readonly #lent = new WeakMap<ArrayBufferLike, { buffer: Buffer; unreturned: number }>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * Reads each location; locations back to back in one pack are read with a single call. With
   * `lend`, into one buffer this reader reuses once every location's bytes are given back
   * (`giveBack`), when they are large enough to be worth one and fit it.
   */
  read(locations: readonly PackLocation[], lend = false): Buffer[] {
    const out: Buffer[] = new Array(locations.length);
    const order = locations.map((_, i) => i).sort((a, b) => locations[a]!.pack - locations[b]!.pack || locations[a]!.offset - locations[b]!.offset);
    /** Runs of `order` read with one call each: [from, to) and the bytes they span. */
    const spans: { from: number; to: number; pack: number; offset: number; length: number }[] = [];
    let total = 0;
    for (let i = 0; i < order.length; ) {
      const first = locations[order[i]!]!;
      let end = first.offset + first.length;
      let j = i + 1;
      // Consecutive records are separated only by a record header: read across it.
      while (j < order.length) {
        const next = locations[order[j]!]!;
        if (next.pack !== first.pack || next.offset < end || next.offset - end > RECORD_HEADER) break;
        end = next.offset + next.length;
        j++;
      }
      spans.push({ from: i, to: j, pack: first.pack, offset: first.offset, length: end - first.offset });
      total += end - first.offset;
      i = j;
    }
    const into = lend && total >= MIN_LENT_READ_BYTES && total <= READ_BUFFER_BYTES ? this.#readBuffers.take() : undefined;
    let at = 0;
    for (const { from, to, pack, offset, length } of spans) {
      const bytes = this.#readRange(pack, offset, length, into?.subarray(at, (at += length)));
      for (let k = from; k < to; k++) {
        const location = locations[order[k]!]!;
        out[order[k]!] = bytes.subarray(location.offset - offset, location.offset - offset + location.length);
      }
    }
    if (into !== undefined) this.#lent.set(into.buffer, { buffer: into, unreturned: locations.length });
    return out;
  }

  /** Takes back chunks a lending `read` returned, each once: a buffer all of whose chunks are back is read into again. */
  giveBack(chunks: readonly Uint8Array[]): void {
    for (const chunk of chunks) {
      const loan = this.#lent.get(chunk.buffer);
      if (loan === undefined || --loan.unreturned > 0) continue;
      this.#lent.delete(chunk.buffer);
      this.#readBuffers.give(loan.buffer);
    }
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  /** Lets go of a pack (compaction removed it): a later read opens the file anew. */
  forget(pack: number): void {
    const fd = this.#fds.get(pack);
    if (fd === undefined) return;
    closeSync(fd);
    this.#fds.delete(pack);
  }

  #readRange(pack: number, offset: number, length: number, into?: Buffer): Buffer {
    const buffer = into ?? Buffer.allocUnsafe(length);
    const bytesRead = readSync(this.#fd(pack), buffer, 0, length, offset);
    if (bytesRead !== length) throw new Error(`pack ${pack} is shorter than its index says`);
    return buffer;
  }

  #fd(pack: number): number {
    let fd = this.#fds.get(pack);
    if (fd === undefined) {
      if (this.#fds.size >= MAX_OPEN_PACKS) this.close();
      fd = openSync(packPath(this.#dir, pack), "r");
      this.#fds.set(pack, fd);
    }
    return fd;
  }
}
