import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { DedupError } from "../errors.js";
import { CHUNK_ID_BYTES, type ChunkId } from "../store/chunk-id.js";
import { BufferPool } from "../store/buffer-pool.js";
import { encodedBound, type Compression } from "../store/codec.js";
import type { FromCodec, ToCodec } from "./codec-protocol.js";
import { decodeBatchInto, decodedBytes, REJECTED, type BatchRuns, type ExpectedChunks } from "./decode-batch.js";
import { encodeBatchInto } from "./encode-batch.js";
import { READ_BATCH_BYTES } from "./read-batches.js";

/**
 * Chunk work in worker threads: decompressing chunks and checking them against their ids, so that
 * a blob being rebuilt keeps the main thread for reading and sending while its next batches are
 * decoded on the other cores; and compressing the new chunks of a blob being pushed, so that the
 * main thread keeps cutting and hashing. Batches travel without copies: chunks go out in one
 * transferred buffer, and come back, back to back, in another; both buffers are reused.
 *
 * Fair: each worker has at most WORKER_DEPTH batches at a time; the rest wait here, per owner
 * (one rebuild), and a free worker takes the next batch of the owner served the fewest bytes so
 * far. A small blob asked for while large layers are rebuilt is decoded next, not after the
 * read-ahead of every large one.
 */
interface Done {
  buffer: Buffer;
  lengths: Int32Array;
  ids?: Uint8Array;
}

interface Pending {
  resolve(done: Done): void;
  reject(error: Error): void;
}

/** A batch waiting for a worker. */
interface Job extends Pending {
  message: ToCodec;
  transfer: ArrayBuffer[];
  bytes: number;
  /** Called as a worker takes the batch, before it is posted. */
  dispatched?: () => void;
}

/** Batches a worker holds at once: one being decoded, one ready behind it. */
const WORKER_DEPTH = 2;

/** Whoever asks for decoding when no owner is given (peers' chunks, one-off reads). */
const ANONYMOUS = {};

/**
 * Stored batches mostly fit buffers of this size: a read's batch holds at most 4 MiB plain (and
 * stored chunks do not grow by more than a byte each), or the runs its slices name, compressed.
 */
const INPUT_BUFFER_BYTES = READ_BATCH_BYTES + (256 << 10);
/**
 * A read's decoded batch fits a buffer of this size unless the chunks decoded with it for later
 * batches (read-plan.ts) are many: a read batch, its last chunk and 1 MiB of those.
 */
const DECODED_BUFFER_BYTES = READ_BATCH_BYTES + (1 << 20);
/**
 * Decoded batch buffers kept for reuse. Reads take them back about as fast as they hand them
 * back, so a few suffice (8 clients reading at once found 97% of their batches a buffer with 8
 * kept, as with 16); more would sit idle in memory after a burst.
 */
const DECODED_BUFFERS_KEPT = 8;
/** An ingest's batches of new chunks fit buffers of this size (layers/ingest.ts: a read batch and 1 MiB at most), plain and compressed. */
const ENCODE_BUFFER_BYTES = READ_BATCH_BYTES + (2 << 20);

/** What a digest answers for lengths: it has none. */
const NO_LENGTHS = new Int32Array(0);

/** Batches smaller than this are decoded in place: a thread hop would cost more than it saves. */
const MIN_OFFLOAD_BYTES = 32 * 1024;

export class CodecPool {
  readonly #size: number;
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  /** Batches each worker holds. */
  readonly #load = new Map<Worker, number>();
  /** Batches waiting, per owner, and the bytes each owner had decoded (the fairness measure). */
  readonly #waiting = new Map<object, Job[]>();
  readonly #served = new WeakMap<object, number>();
  /**
   * Buffers that carry stored batches to the workers, which hand each back with its batch decoded:
   * otherwise each would be garbage in a worker, whose small heap is collected too rarely to free it.
   */
  readonly #inputs: BufferPool;
  /** The same for the plain batches of ingests, and the buffers their compressed chunks come back in. */
  readonly #plainBatches: BufferPool;
  readonly #encodedBatches: BufferPool;
  /** Buffers that reads' batches are decoded into, handed back (`recycle`) once sent. */
  readonly #decodedBatches = new BufferPool(DECODED_BUFFER_BYTES, DECODED_BUFFERS_KEPT);
  #next = 0;

  /** Worker threads to decode with (0: all in place, on the caller's thread); started at the first batch worth a thread. */
  constructor(size: number) {
    this.#size = size;
    this.#inputs = new BufferPool(INPUT_BUFFER_BYTES, 2 * WORKER_DEPTH * size);
    this.#plainBatches = new BufferPool(ENCODE_BUFFER_BYTES, WORKER_DEPTH * size);
    // Without threads, encodes still run here, several batches of an ingest at once.
    this.#encodedBatches = new BufferPool(ENCODE_BUFFER_BYTES, 2 * WORKER_DEPTH * Math.max(1, size));
  }

  /** Stops the workers; batches still out are failed. */
  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  #startWorkers(): void {
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(new URL("./codec-worker.js", import.meta.url));
      worker.on("message", (message: FromCodec) => {
        // A digest's input is its caller's, handed back with the answer.
        if (message.kind !== "digest") (message.kind === "decode" ? this.#inputs : this.#plainBatches).give(Buffer.from(message.input));
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        this.#load.set(worker, this.#load.get(worker)! - 1);
        this.#dispatch();
        if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
        // A batch that does not decode is damaged; one that does not compress or hash is this program's fault.
        if (message.error !== undefined) pending?.reject(message.kind === "decode" ? new DedupError("CHUNK_CORRUPT", message.error) : new Error(`${message.kind === "encode" ? "compressing chunks" : "hashing"}: ${message.error}`));
        else pending?.resolve({ buffer: Buffer.from(message.buffer ?? message.input), lengths: message.lengths ?? NO_LENGTHS, ...(message.ids === undefined ? {} : { ids: message.ids }) });
      });
      worker.on("error", (error) => {
        for (const p of this.#pending.values()) p.reject(error);
        this.#pending.clear();
        for (const queue of this.#waiting.values()) for (const job of queue) job.reject(error);
        this.#waiting.clear();
      });
      // Idle workers must not hold the process open; they are ref'd while a batch is out.
      worker.unref();
      this.#workers.push(worker);
      this.#load.set(worker, 0);
    }
  }

  /**
   * Decodes chunks that must have the given ids and plain lengths, in order: each is its plain
   * bytes, or undefined if it cannot be decoded or is not the chunk expected. The checks (a
   * SHA-256 per chunk) run in the worker with the decompression, off the main thread and on both
   * cores. `owner` (one rebuild) is what fairness counts by. Slices among `stored` are cut from
   * the runs `runs` gives (store/codec.ts). The bytes of `stored` and of the runs are taken in
   * (copied, or decoded in place) before this returns its promise: the caller may reuse their
   * memory at once.
   */
  async decodeChecked(
    stored: readonly Uint8Array[],
    ids: readonly ChunkId[],
    lengths: readonly number[],
    owner: object = ANONYMOUS,
    runs: { ids: readonly ChunkId[]; stored: readonly Uint8Array[] } = { ids: [], stored: [] },
  ): Promise<(Buffer | undefined)[]> {
    return (await this.decodeLent(stored, ids, lengths, owner, runs, false)).chunks;
  }

  /**
   * decodeChecked, and with `lend`, into a buffer of this pool's when they fit one: then
   * `lent` is that buffer, which its holder hands back with `recycle` once no one needs the
   * chunks (they are views of it). Otherwise the chunks are views of a buffer of their own.
   */
  async decodeLent(
    stored: readonly Uint8Array[],
    ids: readonly ChunkId[],
    lengths: readonly number[],
    owner: object,
    runs: { ids: readonly ChunkId[]; stored: readonly Uint8Array[] },
    lend: boolean,
  ): Promise<{ chunks: (Buffer | undefined)[]; lent?: ArrayBuffer }> {
    const expected = { ids: Buffer.concat(ids as Buffer[], ids.length * CHUNK_ID_BYTES), lengths: Uint32Array.from(lengths) };
    const decoded = await this.#run(stored, expected, { ids: Buffer.concat(runs.ids as Buffer[], runs.ids.length * CHUNK_ID_BYTES), stored: runs.stored }, owner, lend);
    const chunks = chunkViews(decoded.buffer, lengths, decoded.lengths);
    return decoded.lent ? { chunks, lent: decoded.buffer.buffer as ArrayBuffer } : { chunks };
  }

  /**
   * The SHA-256 of `bytes`, on a worker when they are worth a thread hop: `bytes` must be the
   * whole of a buffer of its own (Buffer.allocUnsafeSlow), which is handed over and comes back,
   * the same memory, as `bytes` (the buffer given is unusable meanwhile, and after).
   */
  async sha256(bytes: Buffer, owner: object = ANONYMOUS): Promise<{ bytes: Buffer; sha256: Buffer }> {
    if (bytes.length < MIN_OFFLOAD_BYTES || this.#size === 0) return { bytes, sha256: createHash("sha256").update(bytes).digest() };
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) throw new Error("sha256: the bytes must be a buffer of their own");
    const buffer = bytes.buffer as ArrayBuffer;
    const done = await this.#submit({ kind: "digest", id: this.#next++, buffer }, [buffer], bytes.length, owner);
    return { bytes: done.buffer, sha256: Buffer.from(done.ids!) };
  }

  /** Batches decoded into a buffer handed back by an earlier read. */
  get decodedBuffersReused(): number {
    return this.#decodedBatches.reused;
  }

  /** Takes back a buffer `decodeLent` lent: every view of it is done with. */
  recycle(lent: ArrayBuffer): void {
    this.#decodedBatches.give(Buffer.from(lent));
  }

  /**
   * Compresses chunks (a batch of an ingest's new chunks, or runs of them) as the store keeps
   * them, in order: their stored forms, views into one buffer; `release` hands it back once the
   * store has them. With `name`, also each one's id (the runs', which no one has hashed).
   */
  async encode(chunks: readonly Uint8Array[], compression: Compression, owner: object = ANONYMOUS, name = false): Promise<{ stored: Buffer[]; ids?: ChunkId[]; release(): void }> {
    let total = 0;
    let bound = 0;
    for (const chunk of chunks) {
      total += chunk.length;
      bound += encodedBound(chunk.length);
    }
    const out = this.#encodedBatches.take(bound);
    const release = () => this.#encodedBatches.give(out);
    if (total < MIN_OFFLOAD_BYTES || this.#size === 0) {
      const { stored, ids } = encodeBatchInto(chunks, compression, out, name);
      return { stored, ...(ids === undefined ? {} : { ids: idsOf(ids) }), release };
    }
    const batch = this.#plainBatches.take(total);
    const lengths = copyInto(batch, chunks);
    const done = await this.#submit(
      { kind: "encode", id: this.#next++, buffer: batch.buffer as ArrayBuffer, lengths, codec: compression.codec, level: compression.level, out: out.buffer as ArrayBuffer, name },
      [batch.buffer as ArrayBuffer, out.buffer as ArrayBuffer],
      total,
      owner,
    );
    // `out` came back from the worker as `buffer`: the same memory, a new object.
    let at = 0;
    const stored = Array.from(done.lengths, (length) => done.buffer.subarray(at, (at += length)));
    return { stored, ...(done.ids === undefined ? {} : { ids: idsOf(done.ids) }), release: () => this.#encodedBatches.give(done.buffer) };
  }

  async #run(stored: readonly Uint8Array[], expected: ExpectedChunks, runs: BatchRuns, owner: object, lend: boolean): Promise<Done & { lent?: true }> {
    let total = 0;
    for (const chunk of stored) total += chunk.length;
    for (const run of runs.stored) total += run.length;
    if (total < MIN_OFFLOAD_BYTES || this.#size === 0) {
      const out = Buffer.allocUnsafe(decodedBytes(expected.lengths));
      return { buffer: out, lengths: decodeBatchInto(stored, expected, out, runs) };
    }
    // Copied into a buffer this pool owns, which can then be handed over without another copy
    // whatever backend the chunks came from; before any await, as decodeChecked promises.
    const batch = this.#inputs.take(total);
    const lengths = copyInto(batch, [...stored, ...runs.stored]);
    const message: ToCodec = { kind: "decode", id: this.#next++, buffer: batch.buffer as ArrayBuffer, lengths, expectedIds: expected.ids, expectedLengths: expected.lengths, runIds: runs.ids };
    const transfer = [batch.buffer as ArrayBuffer];
    const intoPoolBuffer = lend && decodedBytes(expected.lengths) <= DECODED_BUFFER_BYTES;
    // The buffer to decode into is taken as a worker takes the batch, not while it waits its turn.
    const takeOut = () => {
      message.out = this.#decodedBatches.take().buffer as ArrayBuffer;
      transfer.push(message.out);
    };
    const done = await this.#submit(message, transfer, total, owner, intoPoolBuffer ? takeOut : undefined);
    return intoPoolBuffer ? { ...done, lent: true } : done;
  }

  #submit(message: ToCodec, transfer: ArrayBuffer[], bytes: number, owner: object, dispatched?: () => void): Promise<Done> {
    if (this.#workers.length === 0) this.#startWorkers();
    return new Promise((resolve, reject) => {
      const queue = this.#waiting.get(owner);
      const job: Job = { resolve, reject, message, transfer, bytes, ...(dispatched === undefined ? {} : { dispatched }) };
      if (queue === undefined) this.#waiting.set(owner, [job]);
      else queue.push(job);
      this.#dispatch();
    });
  }

  /** Hands waiting batches to workers with room, least-served owner first. */
  #dispatch(): void {
    for (;;) {
      // The least loaded worker: a batch waits behind as few others as it can, on every core.
      let worker: Worker | undefined;
      for (const w of this.#workers) if (this.#load.get(w)! < (worker === undefined ? WORKER_DEPTH : this.#load.get(worker)!)) worker = w;
      if (worker === undefined || this.#waiting.size === 0) return;
      let owner: object | undefined;
      let least = Infinity;
      for (const candidate of this.#waiting.keys()) {
        const served = this.#served.get(candidate) ?? 0;
        if (served < least) {
          least = served;
          owner = candidate;
        }
      }
      const queue = this.#waiting.get(owner!)!;
      const job = queue.shift()!;
      if (queue.length === 0) this.#waiting.delete(owner!);
      this.#served.set(owner!, least + job.bytes);
      if (this.#pending.size === 0) for (const w of this.#workers) w.ref();
      this.#pending.set(job.message.id, { resolve: job.resolve, reject: job.reject });
      this.#load.set(worker, this.#load.get(worker)! + 1);
      job.dispatched?.();
      worker.postMessage(job.message, job.transfer);
    }
  }
}

/** Ids back to back, apart. */
function idsOf(ids: Uint8Array): ChunkId[] {
  const all = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
  return Array.from({ length: ids.length / CHUNK_ID_BYTES }, (_, i) => all.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES));
}

/** Copies chunks back to back into `batch`; their lengths. */
function copyInto(batch: Buffer, chunks: readonly Uint8Array[]): Uint32Array {
  const lengths = new Uint32Array(chunks.length);
  let at = 0;
  chunks.forEach((chunk, i) => {
    batch.set(chunk, at);
    at += chunk.length;
    lengths[i] = chunk.length;
  });
  return lengths;
}

/** The decoded chunks, views into the batch's buffer (each at the place its expected length gives it); undefined for those REJECTED. */
function chunkViews(buffer: Buffer, expectedLengths: readonly number[], lengths: Int32Array): (Buffer | undefined)[] {
  let at = 0;
  return expectedLengths.map((length, i) => {
    const view = lengths[i] === REJECTED ? undefined : buffer.subarray(at, at + length);
    at += length;
    return view;
  });
}
