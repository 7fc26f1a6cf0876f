import type { SchedulePolicy } from "../../config/site-config.js";
import { DedupError } from "../../errors.js";
import type { BlobService } from "../../layers/blob-service.js";
import type { ChunkCache } from "../../layers/chunk-cache.js";
import type { CodecPool } from "../../layers/codec-pool.js";
import type { ChunkId } from "../../store/chunk-id.js";
import { distinctChunks, type Recipe } from "../../store/recipe.js";
import type { Store } from "../../store/types.js";
import type { ChunkLocations } from "../log/chunk-locations.js";
import { CHUNK_RECEIVED, CHUNK_WAITING, replan } from "../schedule/replan.js";
import { NO_SOURCE, type MissingChunks } from "../schedule/transfer.js";
import { answerWithin } from "../../deadline.js";
import type { PeerClient } from "../wire/peer-client.js";
import type { LinkEstimates } from "./link-estimates.js";
import type { LaneRequest, LaneUser, PeerLane } from "./peer-lane.js";

export interface PeerFetchContext {
  /** This site's own store: chunks go in as they arrive, the recipe once the blob verified. */
  store: Store;
  /** The blobs of that store, to check a fetched blob against its digest before it counts as held. */
  blobs: BlobService;
  /** Decodes and checks the chunks peers send, off the main thread. */
  codec: CodecPool;
  /** Where pulls at this site find decoded chunks (chunk-cache.ts): fetched chunks go in as they verify. */
  cache: ChunkCache;
  /** Site index s in a plan is the peer of lanes[s]. */
  lanes: readonly PeerLane[];
  locations: ChunkLocations;
  links: LinkEstimates;
  policy: SchedulePolicy;
  /** Records the verified blob as held here (sites/log/site-changes.ts). */
  commit: (recipe: Recipe) => Promise<void>;
  log: (line: string) => void;
}

/** A `chunks` request asks for at most this many chunks, whatever its size in bytes. */
const MAX_CHUNKS_PER_REQUEST = 256;
/** A peer asked `has` that has not answered by then is left out of the plan. */
const HAS_DEADLINE_MS = 2000;
/** Bytes received from peers and not yet checked and stored, beyond which the links wait for this site (memory stays bounded). */
const MAX_UNCHECKED_BYTES = 16 * 1024 * 1024;
/** A source delivering under this fraction of its planned rate gets its queue planned again... */
const SLOW_FRACTION = 0.5;
/** ...at most this often. */
const REPLAN_INTERVAL_MS = 1000;

/**
 * One blob fetched from peers into this site: the chunks it lacks, planned over the peers that
 * hold them (schedule/schedule.ts) into one queue per peer, asked for by the peers' lanes (peer-lane.ts)
 * as their links have room, each chunk checked against its id as it arrives and stored at once
 * (so this site becomes a source), and handed to whoever waits for it (a pull streaming the
 * blob meanwhile). With the network-aware policy, a lane whose queue ran dry takes chunks from
 * the end of the queue that would finish last, when it can deliver them sooner (estimates are
 * never exact, and this is what keeps every link busy to the end), and a source that runs far
 * below its estimate has its queue planned again (schedule/replan.ts). Under any policy, a source that
 * fails, or sends a chunk that does not match its id or that it lacks, loses those chunks to the
 * other holders. Only when every chunk is stored is the blob
 * read back, its digest verified, and its recipe committed: the blob counts as held here from
 * then on, and never before.
 */
export class PeerFetch implements LaneUser {
  readonly recipe: Recipe;
  /** Settles when the blob is committed here, or when the fetch failed. */
  readonly done: Promise<void>;
  readonly #ctx: PeerFetchContext;
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
  /** Per peer: planned chunks not yet asked for (in the order to ask), their plain bytes, and the rate planned with (0: unusable). */
  #queues: number[][] = [];
  #queuedBytes: number[] = [];
  #bandwidth: number[] = [];
  #lastReplan = 0;
  #remaining = 0;
  #missingBytes = 0;
  #receivedBytes = 0;
  /** Stored (wire) bytes received, against their plain bytes: how plain sizes turn into bytes on a link. */
  #receivedStoredBytes = 0;
  /** Stored bytes of the responses received and still being checked and stored. */
  #uncheckedBytes = 0;
  #failed: Error | undefined;
  readonly #stores: Promise<void>[] = [];
  #finish!: { resolve(): void; reject(error: Error): void };
  /** Settle the wait for the last chunk. */
  #allArrived: () => void = () => undefined;
  #abort: (error: Error) => void = () => undefined;

  constructor(ctx: PeerFetchContext, recipe: Recipe) {
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
    const unique = distinctChunks([this.recipe]);
    const present = await this.#ctx.store.hasChunks(unique.ids);
    const sizes: number[] = [];
    unique.ids.forEach((id, u) => {
      if (present[u]) return;
      this.#index.set(id.toString("latin1"), this.#ids.length);
      this.#ids.push(id);
      this.#arrivals.push(deferred());
      sizes.push(unique.lengths[u]!);
    });
    this.#remaining = this.#ids.length;
    this.#missingBytes = sizes.reduce((sum, size) => sum + size, 0);
    this.#unique = { ids: unique.ids, present };
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

  /** Plain bytes of what the chunks make: the blob. */
  get chunkedBytes(): number {
    return this.recipe.size;
  }

  /**
   * The stored form of a chunk this fetch brings, once it arrived and matched its id (its plain
   * bytes are in the cache by then); undefined if the fetch brings no such chunk.
   */
  arrival(id: ChunkId): Promise<Buffer> | undefined {
    const k = this.#index.get(id.toString("latin1"));
    return k === undefined ? undefined : this.#arrivals[k]?.promise;
  }

  async #run(wholeHolders: readonly string[]): Promise<void> {
    const { store, blobs, lanes } = this.#ctx;
    if (this.#remaining > 0) {
      this.#chunks.holders.set(await this.#holders(wholeHolders));
      this.#state = new Uint8Array(this.#ids.length).fill(CHUNK_WAITING);
      this.#queues = lanes.map(() => []);
      this.#queuedBytes = lanes.map(() => 0);
      this.#bandwidth = lanes.map((lane) => lane.rate);
      const arrived = new Promise<void>((resolve, reject) => {
        this.#allArrived = resolve;
        this.#abort = reject;
      });
      this.#plan();
      try {
        await arrived;
      } finally {
        for (const lane of lanes) lane.leave(this);
      }
    }
    await Promise.all(this.#stores);
    // Every chunk matched its id, but the recipe came from a peer: only the digest proves the
    // blob. A pull that streamed the whole blob meanwhile (it reads this recipe object) checked
    // it already; otherwise it is read back, from the cache by now (unless the blob is larger
    // than the cache), which costs a hash, not a decompression.
    await blobs.checkRecipe(this.recipe);
    await store.sync();
    await this.#ctx.commit(this.recipe);
    this.#finish.resolve();
  }

  /** Site masks of the missing chunks: peers holding the whole blob hold all; others are asked (or their last answer used). */
  async #holders(wholeHolders: readonly string[]): Promise<Uint32Array> {
    const { lanes, locations } = this.#ctx;
    const { ids: uniqueIds, present } = this.#unique;
    const holders = new Uint32Array(this.#ids.length);
    await Promise.all(
      lanes.map(async ({ peer }, s) => {
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
      const held = await answerWithin(peer.has(ids), HAS_DEADLINE_MS);
      if (held !== undefined) await this.#ctx.locations.recordHas(peer.name, this.recipe.digest, held);
      return held;
    } catch {
      return undefined; // a peer that cannot answer is not a source for this blob
    }
  }

  /** (Re)assigns every chunk not received and not in flight from a live peer, then lets the lanes ask. */
  #plan(): void {
    this.#lastReplan = Date.now();
    const plan = replan(this.#chunks, this.#state, this.#bandwidth, { policy: this.#ctx.policy });
    if (plan.unreachable.length > 0) {
      const chunk = this.#ids[plan.unreachable[0]!]!.toString("hex");
      throw new DedupError("CHUNK_MISSING", `no reachable site holds chunk ${chunk} of ${this.recipe.digest} (${plan.unreachable.length} chunks)`, { digest: this.recipe.digest, chunk });
    }
    for (const queue of this.#queues) queue.length = 0;
    this.#queuedBytes.fill(0);
    plan.source.forEach((site, k) => {
      if (site === NO_SOURCE) return;
      this.#state[k] = CHUNK_WAITING;
      this.#queues[site]!.push(k);
      this.#queuedBytes[site]! += this.#chunks.sizes[k]!;
    });
    this.#ctx.lanes.forEach((lane, s) => this.#bandwidth[s]! > 0 && lane.join(this));
  }

  nextRequest(lane: PeerLane, maxBytes: number): LaneRequest | undefined {
    const s = this.#ctx.lanes.indexOf(lane);
    if (this.#failed !== undefined || s === -1 || !(this.#bandwidth[s]! > 0)) return undefined;
    const perWireByte = this.#wireBytesPerPlainByte();
    const batch = this.#takeQueued(s, maxBytes / perWireByte);
    if (batch.length === 0 && this.#adapts) batch.push(...this.#steal(s, maxBytes / perWireByte, perWireByte));
    if (batch.length === 0) return undefined;
    let plainBytes = 0;
    for (const k of batch) {
      this.#state[k] = s;
      plainBytes += this.#chunks.sizes[k]!;
    }
    return { bytes: plainBytes * perWireByte, send: () => this.#request(s, batch).catch((error: Error) => this.#sourceFailed(s, error)) };
  }

  /** The head of peer s's queue, up to `maxBytes` plain bytes (at least one chunk). */
  #takeQueued(s: number, maxBytes: number): number[] {
    const queue = this.#queues[s]!;
    const batch: number[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < queue.length && batch.length < MAX_CHUNKS_PER_REQUEST && (batch.length === 0 || bytes < maxBytes)) {
      const k = queue[taken++]!;
      // A queued chunk may have arrived meanwhile from a source it was planned away from (one
      // that failed while its response was being checked): it must not be asked for again.
      this.#queuedBytes[s]! -= this.#chunks.sizes[k]!;
      if (this.#state[k] === CHUNK_RECEIVED) continue;
      batch.push(k);
      bytes += this.#chunks.sizes[k]!;
    }
    queue.splice(0, taken);
    return batch;
  }

  /**
   * Chunks peer s holds, taken from the end of the queue that would finish last, for as long as
   * s would deliver each of them sooner than its planned peer (by the estimated rates, counting
   * what each link has in flight).
   */
  #steal(s: number, maxBytes: number, perWireByte: number): number[] {
    // The lanes' latest estimates, not the rates planned with: this is where a wrong plan is mended.
    const { lanes } = this.#ctx;
    const rate = lanes[s]!.rate;
    const mask = 1 << s;
    const stolen: number[] = [];
    let bytes = 0;
    const exhausted = new Set<number>([s]);
    while (stolen.length < MAX_CHUNKS_PER_REQUEST && bytes < maxBytes) {
      const finish = (t: number) => (lanes[t]!.bytesInFlight + this.#queuedBytes[t]! * perWireByte) / lanes[t]!.rate;
      let victim = -1;
      for (let t = 0; t < lanes.length; t++) {
        if (exhausted.has(t) || !(this.#bandwidth[t]! > 0) || this.#queues[t]!.length === 0) continue;
        if (victim === -1 || finish(t) > finish(victim)) victim = t;
      }
      if (victim === -1) break;
      const queue = this.#queues[victim]!;
      let at = queue.length - 1;
      while (at >= 0 && ((this.#chunks.holders[queue[at]!]! & mask) === 0 || this.#state[queue[at]!] === CHUNK_RECEIVED)) at--;
      if (at < 0) {
        exhausted.add(victim);
        continue;
      }
      const k = queue[at]!;
      const size = this.#chunks.sizes[k]!;
      const ownFinish = (lanes[s]!.bytesInFlight + (bytes + size) * perWireByte) / rate;
      if (ownFinish >= finish(victim)) break;
      queue.splice(at, 1);
      this.#queuedBytes[victim]! -= size;
      stolen.push(k);
      bytes += size;
    }
    return stolen.reverse();
  }

  /**
   * Whether the plan is mended as the transfer runs (stealing, planning again on a slow link):
   * only network-aware plans are. `random` and `single-source` are the baselines it is measured
   * against (Nitro's and the seed's), and stay what they were: one plan, kept to, except that a
   * source that fails or lacks chunks loses them to the other holders, whatever the policy.
   */
  get #adapts(): boolean {
    return this.#ctx.policy === "network-aware";
  }

  /** Stored bytes per plain byte of the chunks received so far (1 before any): plain sizes are all a plan knows. */
  #wireBytesPerPlainByte(): number {
    return this.#receivedBytes > 0 ? this.#receivedStoredBytes / this.#receivedBytes : 1;
  }

  async #request(s: number, batch: number[]): Promise<void> {
    const lane = this.#ctx.lanes[s]!;
    const peer = lane.peer;
    const frames: { k: number; stored: Buffer }[] = [];
    const lacking: number[] = [];
    let next = 0;
    const asked = Date.now();
    lane.meter.start(asked);
    try {
      for await (const stored of peer.chunks(batch.map((k) => this.#ids[k]!))) {
        if (next === 0) lane.answered((Date.now() - asked) / 1000);
        const k = batch[next++]!;
        if (stored === undefined) lacking.push(k);
        else frames.push({ k, stored });
        lane.meter.arrived(stored?.length ?? 0);
      }
    } finally {
      lane.meter.end(Date.now());
    }
    // The link's rate, measured before this site checks and stores the chunks (its own work).
    const measured = lane.meter.take();
    if (this.#failed !== undefined) return;
    if (lacking.length > 0) this.#lose(lacking, s, `peer ${peer.name} lacks ${lacking.length} chunks it was thought to hold`);
    // The link takes the next request while these chunks are checked and stored (worker threads,
    // then an fdatasync): holding it until then would leave it idle for that long after every
    // response. Only a site this far behind its links makes them wait.
    let bytes = 0;
    for (const frame of frames) bytes += frame.stored.length;
    this.#uncheckedBytes += bytes;
    const accepted = this.#accept(s, frames).then(
      () => this.#remaining === 0 && this.#failed === undefined && this.#allArrived(),
      (error: Error) => this.#fail(error),
    );
    void accepted.finally(() => (this.#uncheckedBytes -= bytes));
    if (measured !== undefined) await this.#ctx.links.observe(peer.name, measured.bytes, measured.seconds);
    if (this.#uncheckedBytes > MAX_UNCHECKED_BYTES) await accepted;
    if (this.#remaining > 0 && this.#adapts && measured !== undefined && measured.bytes / measured.seconds < SLOW_FRACTION * this.#bandwidth[s]! && Date.now() - this.#lastReplan >= REPLAN_INTERVAL_MS) {
      this.#ctx.log(`peer ${peer.name} delivers ${formatRate(measured.bytes / measured.seconds)}, planned ${formatRate(this.#bandwidth[s]!)}: planning ${this.recipe.digest} again`);
      // Every live link's latest estimate, not only this one's: a faster link takes more of the rest.
      this.#ctx.lanes.forEach((l, t) => this.#bandwidth[t]! > 0 && (this.#bandwidth[t] = l.rate));
      this.#guard(() => this.#plan());
    }
  }

  /** Checks a response's chunks (decoded and hashed off the main thread); stores, caches and hands out the good ones. */
  async #accept(s: number, frames: { k: number; stored: Buffer }[]): Promise<void> {
    const plain = await this.#ctx.codec.decodeChecked(
      frames.map((f) => f.stored),
      frames.map((f) => this.#ids[f.k]!),
      frames.map((f) => this.#chunks.sizes[f.k]!),
    );
    const good: { id: ChunkId; data: Buffer }[] = [];
    const goodIndices: number[] = [];
    const corrupt: number[] = [];
    frames.forEach(({ k, stored }, i) => {
      const chunk = plain[i];
      if (chunk === undefined) {
        corrupt.push(k);
        return;
      }
      if (this.#state[k] === CHUNK_RECEIVED) return;
      const id = this.#ids[k]!;
      this.#state[k] = CHUNK_RECEIVED;
      this.#remaining--;
      this.#receivedBytes += chunk.length;
      this.#receivedStoredBytes += stored.length;
      this.#ctx.cache.put(id, chunk);
      good.push({ id, data: stored });
      goodIndices.push(k);
      this.#arrivals[k]!.resolve(stored);
    });
    if (corrupt.length > 0) this.#lose(corrupt, s, `${corrupt.length} chunks from peer ${this.#ctx.lanes[s]!.peer.name} do not match their ids (first ${this.#ids[corrupt[0]!]!.toString("hex")})`);
    const stored = this.#ctx.store.putChunks(good);
    this.#stores.push(stored);
    await stored;
    for (const k of goodIndices) this.#arrivals[k] = undefined;
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
    this.#ctx.log(`peer ${this.#ctx.lanes[s]!.peer.name} failed while sending ${this.recipe.digest}: ${error.message}; its share goes to the other holders`);
    this.#bandwidth[s] = 0;
    this.#ctx.lanes[s]!.leave(this);
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

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}
