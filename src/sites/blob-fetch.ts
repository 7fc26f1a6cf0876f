import { DedupError } from "../errors.js";
import { decodePool } from "../layers/decode-pool.js";
import { readBlob } from "../layers/reconstruct.js";
import { chunkIdOf, type ChunkId } from "../store/chunk-id.js";
import { decodeChunk } from "../store/codec.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import type { ChunkLocations } from "./chunk-locations.js";
import type { LinkEstimates } from "./link-estimates.js";
import type { PeerClient } from "./peer-client.js";
import { CHUNK_RECEIVED, CHUNK_WAITING, replan } from "./replan.js";
import type { SchedulePolicy } from "./schedule.js";
import { NO_SOURCE, type MissingChunks } from "./transfer.js";

export interface BlobFetchContext {
  /** This site's own store: chunks go in as they arrive, the recipe once the blob verified. */
  store: Store;
  /** Site index s in a plan is peers[s]. */
  peers: readonly PeerClient[];
  locations: ChunkLocations;
  links: LinkEstimates;
  policy: SchedulePolicy;
  /** Records the verified blob as held here (site-changes.ts). */
  commit: (recipe: Recipe) => Promise<void>;
  log: (line: string) => void;
}

/** Chunks asked of a peer per request, and requests in flight per peer. */
const CHUNKS_PER_REQUEST = 64;
const REQUESTS_PER_PEER = 4;
/** A peer asked `has` that has not answered by then is left out of the plan. */
const HAS_DEADLINE_MS = 2000;
/**
 * A link's rate is measured over at least this much time with requests to the peer in flight,
 * from every fetch together: requests in flight at once share the link and end close together,
 * so one response's bytes over the time since the previous one measure nothing.
 */
const MEASURE_WINDOW_MS = 1000;
/** ...or over a shorter busy time once every request to the peer has ended (the end of a short transfer). */
const MEASURE_IDLE_MIN_MS = 200;
/** A source delivering under this fraction of its planned rate gets its queue planned again... */
const SLOW_FRACTION = 0.5;
/** ...at most this often. */
const REPLAN_INTERVAL_MS = 1000;

/**
 * One blob fetched from peers into this site: the chunks it lacks, planned over the peers that
 * hold them (schedule.ts), asked for a batch at a time with several batches in flight per link,
 * each chunk checked against its id as it arrives and stored at once (so this site becomes a
 * source), and handed to whoever waits for it (a pull streaming the blob meanwhile). A source
 * that fails, or sends a chunk that does not match its id or that it lacks, loses those chunks
 * to the other holders; one that runs far below its estimate has its queue planned again
 * (replan.ts). Only when every chunk is stored is the blob read back, its digest verified, and
 * its recipe committed: the blob counts as held here from then on, and never before.
 */
export class BlobFetch {
  readonly recipe: Recipe;
  /** Settles when the blob is committed here, or when the fetch failed. */
  readonly done: Promise<void>;
  readonly #ctx: BlobFetchContext;
  /**
   * Missing chunk k: its id, and the promise a reader waits on until the chunk is stored here;
   * from then on readers find it in the store, and the fetch lets go of its bytes.
   */
  readonly #ids: ChunkId[] = [];
  readonly #index = new Map<string, number>();
  readonly #arrivals: (Deferred<Buffer> | undefined)[] = [];
  /** The recipe's distinct chunks, and which of them this site had when the fetch began. */
  #unique: { ids: ChunkId[]; present: boolean[] } = { ids: [], present: [] };
  #chunks: MissingChunks = { sizes: new Uint32Array(0), holders: new Uint32Array(0) };
  #state = new Uint8Array(0);
  /** Per peer: planned chunks not yet asked for, requests in flight, the rate planned with (0: unusable). */
  #queues: number[][] = [];
  #inFlight: number[] = [];
  #bandwidth: number[] = [];
  #lastReplan = 0;
  #remaining = 0;
  #missingBytes = 0;
  #receivedBytes = 0;
  #failed: Error | undefined;
  readonly #stores: Promise<void>[] = [];
  #finish!: { resolve(): void; reject(error: Error): void };
  /** Settle the wait for the last chunk. */
  #allArrived: () => void = () => undefined;
  #abort: (error: Error) => void = () => undefined;

  constructor(ctx: BlobFetchContext, recipe: Recipe) {
    this.#ctx = ctx;
    this.recipe = recipe;
    this.done = new Promise<void>((resolve, reject) => (this.#finish = { resolve, reject }));
    this.done.catch(() => undefined); // readers see the failure through their chunks
  }

  /**
   * Finds the chunks this site lacks. Resolves before any chunk is fetched, and before the
   * recipe is handed to a reader: from then on `arrival` knows every chunk the fetch brings.
   */
  async prepare(): Promise<void> {
    const unique = uniqueChunks(this.recipe);
    const present = await this.#ctx.store.hasChunks(unique.ids);
    const sizes: number[] = [];
    unique.ids.forEach((id, u) => {
      if (present[u]) return;
      this.#index.set(id.toString("latin1"), this.#ids.length);
      this.#ids.push(id);
      this.#arrivals.push(deferred());
      sizes.push(unique.sizes[u]!);
    });
    this.#remaining = this.#ids.length;
    this.#missingBytes = sizes.reduce((sum, size) => sum + size, 0);
    this.#unique = { ...unique, present };
    this.#chunks = { sizes: Uint32Array.from(sizes), holders: new Uint32Array(sizes.length) };
  }

  /** Fetches the missing chunks (after `prepare`); `wholeHolders` are the peers known to hold the whole blob. */
  start(wholeHolders: readonly string[]): void {
    this.#run(wholeHolders).catch((error: Error) => this.#fail(error));
  }

  /** Plain bytes of the distinct chunks this site lacked when the fetch began (known after `prepare`). */
  get missingBytes(): number {
    return this.#missingBytes;
  }

  /** Plain bytes of those chunks received and verified so far. */
  get receivedBytes(): number {
    return this.#receivedBytes;
  }

  /** The stored form of a chunk this fetch brings, once verified; undefined if it brings no such chunk. */
  arrival(id: ChunkId): Promise<Buffer> | undefined {
    const k = this.#index.get(id.toString("latin1"));
    return k === undefined ? undefined : this.#arrivals[k]?.promise;
  }

  async #run(wholeHolders: readonly string[]): Promise<void> {
    const { store, peers } = this.#ctx;
    if (this.#remaining > 0) {
      this.#chunks.holders.set(await this.#holders(wholeHolders));
      this.#state = new Uint8Array(this.#ids.length).fill(CHUNK_WAITING);
      this.#queues = peers.map(() => []);
      this.#inFlight = peers.map(() => 0);
      this.#bandwidth = peers.map((peer) => this.#ctx.links.get(peer.name));
      this.#plan();
      await new Promise<void>((resolve, reject) => {
        this.#allArrived = resolve;
        this.#abort = reject;
      });
    }
    await Promise.all(this.#stores);
    // Every chunk matched its id, but the recipe came from a peer: only the digest proves the blob.
    for await (const _ of readBlob(store, this.recipe));
    await store.sync();
    await this.#ctx.commit(this.recipe);
    this.#finish.resolve();
  }

  /** Site masks of the missing chunks: peers holding the whole blob hold all; others are asked (or their last answer used). */
  async #holders(wholeHolders: readonly string[]): Promise<Uint32Array> {
    const { peers, locations } = this.#ctx;
    const { ids: uniqueIds, present } = this.#unique;
    const holders = new Uint32Array(this.#ids.length);
    await Promise.all(
      peers.map(async (peer, s) => {
        let held: boolean[] | undefined;
        if (wholeHolders.includes(peer.name)) held = uniqueIds.map(() => true);
        else held = (await locations.recordedHas(peer.name, this.recipe.digest, uniqueIds.length)) ?? (await this.#askHas(peer, uniqueIds));
        if (held === undefined) return;
        let k = 0;
        held.forEach((holds, u) => {
          if (present[u]) return;
          if (holds) holders[k]! |= 1 << s;
          k++;
        });
      }),
    );
    return holders;
  }

  async #askHas(peer: PeerClient, ids: ChunkId[]): Promise<boolean[] | undefined> {
    try {
      const held = await withDeadline(peer.has(ids), HAS_DEADLINE_MS);
      if (held !== undefined) await this.#ctx.locations.recordHas(peer.name, this.recipe.digest, held);
      return held;
    } catch {
      return undefined; // a peer that cannot answer is not a source for this blob
    }
  }

  /** (Re)assigns every chunk not received and not in flight from a live peer, then sends requests. */
  #plan(): void {
    this.#lastReplan = Date.now();
    const plan = replan(this.#chunks, this.#state, this.#bandwidth, { policy: this.#ctx.policy });
    if (plan.unreachable.length > 0) {
      const chunk = this.#ids[plan.unreachable[0]!]!.toString("hex");
      throw new DedupError("CHUNK_MISSING", `no reachable site holds chunk ${chunk} of ${this.recipe.digest} (${plan.unreachable.length} chunks)`, { digest: this.recipe.digest, chunk });
    }
    for (const queue of this.#queues) queue.length = 0;
    plan.source.forEach((site, k) => {
      if (site === NO_SOURCE) return;
      this.#state[k] = CHUNK_WAITING;
      this.#queues[site]!.push(k);
    });
    this.#pump();
  }

  #pump(): void {
    this.#queues.forEach((queue, s) => {
      while (queue.length > 0 && this.#inFlight[s]! < REQUESTS_PER_PEER && this.#bandwidth[s]! > 0) {
        // A queued chunk may have arrived meanwhile from a source it was planned away from (one
        // that failed while this response was being checked): it must not be asked for, nor
        // its state turned back from received.
        const batch = queue.splice(0, CHUNKS_PER_REQUEST).filter((k) => this.#state[k] !== CHUNK_RECEIVED);
        if (batch.length === 0) continue;
        for (const k of batch) this.#state[k] = s;
        this.#inFlight[s]!++;
        this.#request(s, batch)
          .catch((error: Error) => this.#sourceFailed(s, error))
          .finally(() => {
            this.#inFlight[s]!--;
            if (this.#failed === undefined) this.#guard(() => this.#pump());
          });
      }
    });
  }

  async #request(s: number, batch: number[]): Promise<void> {
    const peer = this.#ctx.peers[s]!;
    const meter = linkMeter(peer);
    const frames: { k: number; stored: Buffer }[] = [];
    const lacking: number[] = [];
    let next = 0;
    meter.start(Date.now());
    try {
      for await (const frame of peer.chunks(batch.map((k) => this.#ids[k]!))) {
        const k = batch[next++]!;
        if (frame.stored === undefined) lacking.push(k);
        else frames.push({ k, stored: frame.stored });
        meter.arrived(frame.stored?.length ?? 0);
      }
    } finally {
      meter.end(Date.now());
    }
    // The link's rate, measured before this site checks and stores the chunks (its own work).
    const measured = meter.take();
    if (this.#failed !== undefined) return;
    if (lacking.length > 0) this.#lose(lacking, s, `peer ${peer.name} lacks ${lacking.length} chunks it was thought to hold`);
    await this.#accept(s, frames);
    if (measured !== undefined) await this.#ctx.links.observe(peer.name, measured.bytes, measured.seconds);
    const now = Date.now();
    if (this.#remaining === 0) this.#allArrived();
    else if (measured !== undefined && measured.bytes / measured.seconds < SLOW_FRACTION * this.#bandwidth[s]! && now - this.#lastReplan >= REPLAN_INTERVAL_MS) {
      this.#ctx.log(`peer ${peer.name} delivers ${formatRate(measured.bytes / measured.seconds)}, planned ${formatRate(this.#bandwidth[s]!)}: planning ${this.recipe.digest} again`);
      // Every live link's latest estimate, not only this one's: a faster link takes more of the rest.
      this.#ctx.peers.forEach((p, t) => this.#bandwidth[t]! > 0 && (this.#bandwidth[t] = this.#ctx.links.get(p.name)));
      this.#guard(() => this.#plan());
    }
  }

  /** Verifies a response's chunks; stores and hands out the good ones. Returns the stored bytes received. */
  async #accept(s: number, frames: { k: number; stored: Buffer }[]): Promise<number> {
    const decoded = await decodeAll(frames.map((f) => f.stored));
    const good: { id: ChunkId; data: Buffer }[] = [];
    const goodIndices: number[] = [];
    const corrupt: number[] = [];
    let bytes = 0;
    frames.forEach(({ k, stored }, i) => {
      bytes += stored.length;
      const plain = decoded[i];
      const id = this.#ids[k]!;
      if (plain === undefined || plain.length !== this.#chunks.sizes[k] || !chunkIdOf(plain).equals(id)) {
        corrupt.push(k);
        return;
      }
      if (this.#state[k] === CHUNK_RECEIVED) return;
      this.#state[k] = CHUNK_RECEIVED;
      this.#remaining--;
      this.#receivedBytes += plain.length;
      good.push({ id, data: stored });
      goodIndices.push(k);
      this.#arrivals[k]!.resolve(stored);
    });
    if (corrupt.length > 0) this.#lose(corrupt, s, `${corrupt.length} chunks from peer ${this.#ctx.peers[s]!.name} do not match their ids (first ${this.#ids[corrupt[0]!]!.toString("hex")})`);
    const stored = this.#ctx.store.putChunks(good);
    this.#stores.push(stored);
    await stored;
    for (const k of goodIndices) this.#arrivals[k] = undefined;
    return bytes;
  }

  /** Peer s will not deliver these chunks: they are planned again without s. */
  #lose(chunks: number[], s: number, why: string): void {
    this.#ctx.log(`${why}; fetching them from other holders`);
    for (const k of chunks) {
      this.#chunks.holders[k]! &= ~(1 << s);
      if (this.#state[k] !== CHUNK_RECEIVED) this.#state[k] = CHUNK_WAITING;
    }
    this.#guard(() => this.#plan());
  }

  #sourceFailed(s: number, error: Error): void {
    if (this.#failed !== undefined || this.#bandwidth[s] === 0) return;
    this.#ctx.log(`peer ${this.#ctx.peers[s]!.name} failed while sending ${this.recipe.digest}: ${error.message}; its share goes to the other holders`);
    this.#bandwidth[s] = 0;
    this.#guard(() => this.#plan());
  }

  #guard(work: () => void): void {
    try {
      work();
    } catch (error) {
      this.#fail(error as Error);
    }
  }

  #fail(error: Error): void {
    if (this.#failed !== undefined) return;
    this.#failed = error;
    this.#ctx.log(`fetching ${this.recipe.digest} from peers failed: ${error.message}`);
    for (const arrival of this.#arrivals) arrival?.reject(error);
    this.#abort(error);
    this.#finish.reject(error);
  }
}

/**
 * What one peer's link delivered, over all the fetches of this process: chunk bytes as they
 * arrive, and the time with at least one request to the peer in flight, handed out (`take`) once that time
 * reaches MEASURE_WINDOW_MS (or MEASURE_IDLE_MIN_MS once nothing is in flight).
 */
class LinkMeter {
  #inFlight = 0;
  #busySince = 0;
  #busyMs = 0;
  #bytes = 0;

  start(now: number): void {
    if (this.#inFlight++ === 0) this.#busySince = now;
  }

  arrived(bytes: number): void {
    this.#bytes += bytes;
  }

  end(now: number): void {
    if (--this.#inFlight === 0) this.#busyMs += now - this.#busySince;
  }

  take(): { bytes: number; seconds: number } | undefined {
    const now = Date.now();
    const busyMs = this.#busyMs + (this.#inFlight > 0 ? now - this.#busySince : 0);
    if (busyMs < (this.#inFlight > 0 ? MEASURE_WINDOW_MS : MEASURE_IDLE_MIN_MS) || this.#bytes === 0) return undefined;
    const measured = { bytes: this.#bytes, seconds: busyMs / 1000 };
    this.#bytes = 0;
    this.#busyMs = 0;
    this.#busySince = now;
    return measured;
  }
}

const linkMeters = new WeakMap<PeerClient, LinkMeter>();

function linkMeter(peer: PeerClient): LinkMeter {
  let meter = linkMeters.get(peer);
  if (meter === undefined) linkMeters.set(peer, (meter = new LinkMeter()));
  return meter;
}

/** The recipe's distinct chunks, in order of first use (a chunk may occur many times in a blob). */
function uniqueChunks(recipe: Recipe): { ids: ChunkId[]; sizes: number[] } {
  const seen = new Set<string>();
  const ids: ChunkId[] = [];
  const sizes: number[] = [];
  recipe.ids.forEach((id, i) => {
    const key = id.toString("latin1");
    if (seen.has(key)) return;
    seen.add(key);
    ids.push(id);
    sizes.push(recipe.lengths[i]!);
  });
  return { ids, sizes };
}

/** Decoded chunks, undefined where a chunk cannot be decoded (a damaged one must not sink its batch). */
async function decodeAll(stored: Buffer[]): Promise<(Buffer | undefined)[]> {
  try {
    return await decodePool().decode(stored);
  } catch {
    return stored.map((chunk) => {
      try {
        return decodeChunk(chunk);
      } catch {
        return undefined;
      }
    });
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // nobody may be waiting for this chunk
  return { promise, resolve, reject };
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}
