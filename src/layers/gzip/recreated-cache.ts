import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { DedupError } from "../../errors.js";
import { BufferPool } from "../../store/buffer-pool.js";
import type { CodecPool } from "../codec-pool.js";
import { Loans } from "../loans.js";

/** Hashes blocks to check them against their sums: the codec pool, on its threads. Without one, blocks are hashed on the reading thread. */
export type BlockChecker = Pick<CodecPool, "sha256">;

const HASHED_HERE: BlockChecker = { sha256: async (bytes) => ({ bytes, sha256: createHash("sha256").update(bytes).digest() }) };

/** Blocks of one read being read and checked ahead of the one going out: both cores hash while the reader sends. */
const BLOCKS_AHEAD = 4;

/** Block buffers kept for reuse: for eight reads at once, each with its blocks ahead and in its socket. */
const BLOCKS_KEPT = 32;

/**
 * Re-created gzip layers kept on disk, so that a layer pulled again is a file read rather than a
 * re-encoding (Go's level 6 does ~40 MB/s per core). Filled by whole reads whose digest matched.
 *
 * An entry is two files, `<hex>` (the blob) and `<hex>.sums` (the SHA-256 of each 1 MiB block,
 * then the SHA-256 of that list): every block read is checked before it goes out, so a damaged
 * file is dropped, never served. A read checks the blocks after the one going out meanwhile (on
 * the codec threads, given a checker): hashing is most of a cached read's work. The sums file is
 * renamed into place after the blob, and an entry counts only with both, so a crash leaves at
 * worst a stray file, removed at the next start.
 * Bounded in bytes; the least recently read entries go first.
 *
 * The blocks a read yields are buffers lent to it: a consumer that hands each piece back once its
 * bytes left the process (`returned`) lets the next block be read into the same memory. A fresh
 * 1 MiB buffer per block, left to the collector, made a warm GET about 15% slower (page faults,
 * and V8's collections of external memory; BENCHMARKS.md).
 */
export class RecreatedCache {
  static readonly BLOCK = 1 << 20;
  readonly #dir: string;
  readonly #maxBytes: number;
  /** digest → size, least recently read first (a Map keeps insertion order). */
  readonly #entries = new Map<string, number>();
  /** Fills under way, by digest: whole reads of the same blob meanwhile follow them. */
  readonly #filling = new Map<string, Fill>();
  readonly #pumps = new Set<Promise<void>>();
  readonly #blocks = new BufferPool(RecreatedCache.BLOCK, BLOCKS_KEPT);
  readonly #loans = new Loans((buffer) => this.#blocks.give(Buffer.from(buffer)));
  #bytes = 0;
  hits = 0;
  misses = 0;
  /** Reads that missed and followed a fill of the blob under way instead of starting one (or re-creating a range). */
  followed = 0;

  private constructor(dir: string, maxBytes: number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
  }

  /** The cache in `dir` (made if missing), holding at most `maxBytes`; what an earlier run left is kept. */
  static async open(dir: string, maxBytes: number): Promise<RecreatedCache> {
    const cache = new RecreatedCache(dir, maxBytes);
    await mkdir(dir, { recursive: true });
    const names = new Set(await readdir(dir));
    const found: { digest: string; size: number; used: number }[] = [];
    for (const name of names) {
      const complete = /^[0-9a-f]{64}$/.test(name) && names.has(`${name}.sums`);
      const partner = /^[0-9a-f]{64}\.sums$/.test(name) && names.has(name.slice(0, 64));
      if (partner) continue;
      if (!complete) {
        await rm(join(dir, name), { force: true, recursive: true });
        continue;
      }
      const info = await stat(join(dir, name));
      found.push({ digest: `sha256:${name}`, size: info.size, used: info.mtimeMs });
    }
    for (const entry of found.sort((a, b) => a.used - b.used)) cache.#add(entry.digest, entry.size);
    await cache.#evict();
    return cache;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get entries(): number {
    return this.#entries.size;
  }

  /** Blocks read into a buffer that an earlier read's consumer handed back. */
  get blocksReused(): number {
    return this.#blocks.reused;
  }

  /**
   * The bytes [start, end] of a cached blob, each block checked before it goes out; undefined (a
   * miss) if the blob is not cached. A damaged block drops the entry, and the rest of the range,
   * from that block's first byte wanted, comes from `onDamage(at)` instead. A blob a fill is
   * writing is read from the fill's file as it is written (see `fill`), a miss that followed it.
   */
  read(digest: string, start: number, end: number, onDamage: (at: number) => AsyncIterable<Buffer>, checker = HASHED_HERE): AsyncGenerator<Buffer> | undefined {
    const fill = this.#filling.get(digest);
    const size = this.#entries.get(digest) ?? fill?.size;
    if (size === undefined || !(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end < size)) {
      this.misses++;
      return undefined;
    }
    if (fill !== undefined) {
      this.misses++;
      this.followed++;
      return this.#follow(fill, start, end, onDamage, checker);
    }
    this.hits++;
    this.#entries.delete(digest);
    this.#entries.set(digest, size);
    const path = this.#path(digest);
    void utimes(path, new Date(), new Date()).catch(() => undefined);
    return this.#readBlocks(digest, size, start, end, onDamage, checker);
  }

  /**
   * A whole blob's bytes, kept on the way: a fill writes `pieces` to a file as fast as they come
   * and keeps it once `size` bytes went by and hashed to `digest`. The reader follows the fill's
   * file, block by block as each is written, each checked against its sum, the last once the
   * whole matched; so does every read of the blob, whole or a range, while the fill is under way
   * (`pieces` is then never read; see `read`). Clients pulling a layer at once (a deployment's
   * nodes) cost one re-creation, none waits on another's pace, and the fill stops once no reader
   * follows it.
   * What a reader cannot get from the fill (it stopped short: its source failed, or a failure
   * of the cache's own, a full disk) comes from `lost(at)`, from that block on; so a failure of
   * the cache keeps the blob out of it, never from its reader.
   */
  async *fill(digest: string, size: number, pieces: AsyncIterable<Buffer>, lost: (at: number) => AsyncIterable<Buffer>, checker = HASHED_HERE): AsyncGenerator<Buffer> {
    if (this.#filling.has(digest)) this.followed++;
    const fill = this.#fillOf(digest, size, pieces);
    if (fill === undefined) {
      yield* pieces;
      return;
    }
    yield* this.#follow(fill, 0, size - 1, lost, checker);
  }

  /**
   * Keeps a blob whose bytes are known good (a conversion's, just proven): a fill that nothing
   * reads back, held going until it ends. Rejects if the fill stopped short (its source failed,
   * a full disk); resolves at once if the cache has the blob or will not take it.
   */
  async keep(digest: string, size: number, pieces: AsyncIterable<Buffer>): Promise<void> {
    const fill = this.#fillOf(digest, size, pieces);
    if (fill === undefined) return;
    fill.join();
    try {
      if (!(await fill.ready(Math.ceil(size / RecreatedCache.BLOCK) - 1))) throw new Error("the fill stopped short");
    } finally {
      fill.leave();
    }
  }

  /** The fill of `digest` under way, or a new one of `pieces`; undefined if the cache has the blob or will not take it. */
  #fillOf(digest: string, size: number, pieces: AsyncIterable<Buffer>): Fill | undefined {
    const under = this.#filling.get(digest);
    if (under !== undefined) return under;
    if (this.#entries.has(digest) || size > this.#maxBytes || size === 0) return undefined;
    const fill = new Fill(join(this.#dir, `.fill-${randomBytes(6).toString("hex")}`), size);
    this.#filling.set(digest, fill);
    const pumped = this.#pump(digest, fill, pieces);
    this.#pumps.add(pumped);
    void pumped.finally(() => this.#pumps.delete(pumped));
    return fill;
  }

  /** Hands back a piece a read yielded, once its bytes left the process: its block may be reused (pieces of anything else are ignored). */
  returned(piece: Uint8Array): void {
    this.#loans.returned(piece);
  }

  /** Resolves once every fill under way has ended (each stops once no reader follows it). */
  async settled(): Promise<void> {
    while (this.#pumps.size > 0) await Promise.allSettled(this.#pumps);
  }

  /** Writes a fill's pieces to its file while a reader follows it, and commits the file once the whole matched. */
  async #pump(digest: string, fill: Fill, pieces: AsyncIterable<Buffer>): Promise<void> {
    let committed = false;
    const writer = await BlockWriter.open(fill.path, fill.sums).catch(() => undefined);
    try {
      // One handle its readers share (positional reads): it stays valid when the file is renamed into place, or removed.
      const file = writer === undefined ? undefined : await open(fill.path, "r").catch(() => undefined);
      fill.opened(file);
      if (writer === undefined || file === undefined) return;
      let passed = 0;
      for await (const piece of pieces) {
        await writer.write(piece);
        passed += piece.length;
        if (passed === fill.size) {
          const sums = await writer.finish(digest);
          if (sums !== undefined && (await this.#commit(digest, fill.path, sums))) {
            committed = true;
            this.#add(digest, fill.size);
            await this.#evict();
          }
        }
        fill.progressed();
        if (!fill.followed || writer.failed) return;
      }
    } catch {
      // The source failed (a damaged store): each reader gets what it lacks from its `lost`, which meets the same damage.
    } finally {
      this.#filling.delete(digest);
      fill.ended(committed);
      await writer?.abandon();
    }
  }

  /**
   * The bytes [start, end] of the blob a fill writes, block by block as each is written and
   * checked; from `lost(at)` on if the fill stops short of a block.
   */
  async *#follow(fill: Fill, start: number, end: number, lost: (at: number) => AsyncIterable<Buffer>, checker: BlockChecker): AsyncGenerator<Buffer> {
    fill.join();
    try {
      const file = await fill.file();
      const owner = {}; // this read, for the codec pool's fairness
      for (let index = Math.floor(start / RecreatedCache.BLOCK); index <= Math.floor(end / RecreatedCache.BLOCK); index++) {
        const from = index * RecreatedCache.BLOCK;
        const block = file !== undefined && (await fill.ready(index)) ? await this.#checkedBlock(file, fill.sums, index, fill.size, checker, owner) : undefined;
        if (block === undefined) {
          yield* lost(Math.max(start, from));
          return;
        }
        yield this.#lent(block, start - from, end + 1 - from);
      }
    } finally {
      fill.leave();
    }
  }

  /** Renames a filled blob and then its sums into place; false if the disk refused. */
  async #commit(digest: string, temp: string, sums: Buffer[]): Promise<boolean> {
    const hex = digest.slice("sha256:".length);
    try {
      await rename(temp, join(this.#dir, hex));
      await writeFile(`${temp}.sums`, encodeSums(sums));
      await rename(`${temp}.sums`, join(this.#dir, `${hex}.sums`));
      return true;
    } catch {
      await rm(join(this.#dir, hex), { force: true });
      await rm(`${temp}.sums`, { force: true });
      return false;
    }
  }

  async #drop(digest: string): Promise<void> {
    const size = this.#entries.get(digest);
    if (size === undefined) return;
    this.#entries.delete(digest);
    this.#bytes -= size;
    await rm(`${this.#path(digest)}.sums`, { force: true });
    await rm(this.#path(digest), { force: true });
  }

  #add(digest: string, size: number): void {
    this.#entries.set(digest, size);
    this.#bytes += size;
  }

  async #evict(): Promise<void> {
    for (const [digest] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) return;
      await this.#drop(digest); // a read under way keeps its open file
    }
  }

  #path(digest: string): string {
    return join(this.#dir, digest.slice("sha256:".length));
  }

  async *#readBlocks(digest: string, size: number, start: number, end: number, onDamage: (at: number) => AsyncIterable<Buffer>, checker: BlockChecker): AsyncGenerator<Buffer> {
    const path = this.#path(digest);
    let file: FileHandle;
    let sums: Buffer[];
    try {
      sums = decodeSums(await readFile(`${path}.sums`));
      if (sums.length !== Math.ceil(size / RecreatedCache.BLOCK)) throw new Error("block sums do not cover the blob");
      file = await open(path, "r");
    } catch {
      await this.#drop(digest);
      yield* onDamage(start);
      return;
    }
    const owner = {}; // this read, for the codec pool's fairness
    const first = Math.floor(start / RecreatedCache.BLOCK);
    const last = Math.floor(end / RecreatedCache.BLOCK);
    let next = first;
    const ahead: Promise<Buffer | undefined>[] = [];
    const readAhead = () => {
      while (ahead.length < BLOCKS_AHEAD && next <= last) {
        const checked = this.#checkedBlock(file, sums, next++, size, checker, owner);
        checked.catch(() => undefined); // awaited in turn, or left when the read stops early
        ahead.push(checked);
      }
    };
    try {
      for (let index = first; index <= last; index++) {
        readAhead();
        const block = await ahead.shift()!;
        const from = index * RecreatedCache.BLOCK;
        if (block === undefined) {
          await this.#drop(digest);
          yield* onDamage(Math.max(start, from));
          return;
        }
        yield this.#lent(block, start - from, end + 1 - from);
      }
    } finally {
      // Blocks read ahead and never yielded are no one's.
      for (const left of await Promise.allSettled(ahead)) if (left.status === "fulfilled" && left.value !== undefined) this.#blocks.give(left.value);
      await file.close();
    }
  }

  /** Block `index` of a cached blob, read and checked against its sum; undefined if it is short or does not match. */
  async #checkedBlock(file: FileHandle, sums: Buffer[], index: number, size: number, checker: BlockChecker, owner: object): Promise<Buffer | undefined> {
    const from = index * RecreatedCache.BLOCK;
    const length = Math.min(RecreatedCache.BLOCK, size - from);
    // A buffer of its own, so the checker can hand it to another thread and back (the short last block's too).
    const block = length === RecreatedCache.BLOCK ? this.#blocks.take() : Buffer.allocUnsafeSlow(length);
    const { bytesRead } = await file.read(block, 0, length, from);
    if (bytesRead !== length) {
      this.#blocks.give(block);
      return undefined;
    }
    const { bytes, sha256 } = await checker.sha256(block, owner);
    if (sha256.equals(sums[index]!)) return bytes;
    this.#blocks.give(bytes);
    return undefined;
  }

  /** The bytes [from, to) of a checked block (clamped to it), lent to the read that yields them until `returned`. */
  #lent(block: Buffer, from: number, to: number): Buffer {
    const piece = block.subarray(Math.max(0, from), Math.min(block.length, to));
    this.#loans.lend(block.buffer as ArrayBuffer, 0);
    this.#loans.yielding(piece);
    return piece;
  }
}

/** A fill's file, written as the pieces go by, with the SHA-256 of each block. */
class BlockWriter {
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #sums: Buffer[];
  readonly #whole = createHash("sha256");
  #block = createHash("sha256");
  #inBlock = 0;
  #failed = false;

  private constructor(path: string, file: FileHandle, sums: Buffer[]) {
    this.#path = path;
    this.#file = file;
    this.#sums = sums;
  }

  /** A writer of `path` that adds the sum of each block to `sums` once the block is written. */
  static async open(path: string, sums: Buffer[]): Promise<BlockWriter> {
    return new BlockWriter(path, await open(path, "w"), sums);
  }

  async write(piece: Buffer): Promise<void> {
    if (this.#failed) return;
    try {
      await this.#file.write(piece);
    } catch {
      this.#failed = true;
      return;
    }
    this.#whole.update(piece);
    for (let at = 0; at < piece.length; ) {
      const take = Math.min(piece.length - at, RecreatedCache.BLOCK - this.#inBlock);
      this.#block.update(piece.subarray(at, at + take));
      this.#inBlock += take;
      at += take;
      if (this.#inBlock === RecreatedCache.BLOCK) this.#endBlock();
    }
  }

  /** A write failed (a full disk): the file will not be kept. */
  get failed(): boolean {
    return this.#failed;
  }

  /** The block sums, once the file is closed; undefined if a write failed or the bytes are not `digest`'s. */
  async finish(digest: string): Promise<Buffer[] | undefined> {
    if (this.#inBlock > 0) this.#endBlock();
    try {
      await this.#file.close();
    } catch {
      this.#failed = true;
    }
    return this.#failed || `sha256:${this.#whole.digest("hex")}` !== digest ? undefined : this.#sums;
  }

  /** Closes and removes the file, if it is still there (not committed). */
  async abandon(): Promise<void> {
    await this.#file.close().catch(() => undefined);
    await rm(this.#path, { force: true });
  }

  #endBlock(): void {
    this.#sums.push(this.#block.digest());
    this.#block = createHash("sha256");
    this.#inBlock = 0;
  }
}

/**
 * A fill under way, as its readers see it: the file they read, the sums of the blocks written
 * so far, and how it ends. The file's handle is closed once the fill ended and no reader is left.
 */
class Fill {
  readonly path: string;
  readonly size: number;
  readonly sums: Buffer[] = [];
  #readers = 0;
  /** The handle readers share: undefined until the fill opened its file, null if it could not. */
  #file: FileHandle | null | undefined;
  #end: "committed" | "stopped" | undefined;
  readonly #waiting: (() => void)[] = [];

  constructor(path: string, size: number) {
    this.path = path;
    this.size = size;
  }

  /** Whether a reader follows the fill: it stops once none does. */
  get followed(): boolean {
    return this.#readers > 0;
  }

  join(): void {
    this.#readers++;
  }

  leave(): void {
    this.#readers--;
    this.#closeIfDone();
  }

  opened(file: FileHandle | undefined): void {
    this.#file = file ?? null;
    this.progressed();
  }

  progressed(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  ended(committed: boolean): void {
    this.#end = committed ? "committed" : "stopped";
    this.#file ??= null;
    this.progressed();
    this.#closeIfDone();
  }

  /** The file to read the blob from, once the fill opened it; undefined if it could not. */
  async file(): Promise<FileHandle | undefined> {
    while (this.#file === undefined) await this.#next();
    return this.#file ?? undefined;
  }

  /**
   * Whether block `index` may be read: written with its sum, and for the last block, the whole
   * blob committed (its digest matched). False once the fill stopped short of that.
   */
  async ready(index: number): Promise<boolean> {
    const last = Math.ceil(this.size / RecreatedCache.BLOCK) - 1;
    for (;;) {
      if (this.#end !== undefined) return this.#end === "committed";
      if (index < last && index < this.sums.length) return true;
      await this.#next();
    }
  }

  #next(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #closeIfDone(): void {
    if (this.#end === undefined || this.#readers > 0 || !this.#file) return;
    void this.#file.close().catch(() => undefined);
    this.#file = null;
  }
}

/** The block sums, then the SHA-256 of them all, so that a damaged sums file is noticed too. */
function encodeSums(sums: Buffer[]): Buffer {
  const list = Buffer.concat(sums);
  return Buffer.concat([list, createHash("sha256").update(list).digest()]);
}

function decodeSums(bytes: Buffer): Buffer[] {
  const list = bytes.subarray(0, bytes.length - 32);
  if (bytes.length < 32 || list.length % 32 !== 0 || !createHash("sha256").update(list).digest().equals(bytes.subarray(list.length))) {
    throw new DedupError("CHUNK_CORRUPT", "a cached blob's block sums are damaged");
  }
  const sums: Buffer[] = [];
  for (let at = 0; at < list.length; at += 32) sums.push(list.subarray(at, at + 32));
  return sums;
}
