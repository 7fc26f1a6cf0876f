import type { Hash } from "node:crypto";
import { DedupError } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";

import { RegistryError } from "./oci-errors.js";
import { RunningHashes } from "./running-hashes.js";
import { lastActive, UploadRecords, withPart, type RecordStore, type UploadPart, type UploadRecord, type UploadSession } from "./upload-record.js";

/**
 * Blob upload sessions, kept in the store, so that several stateless frontends over one store
 * can share them (an upload started on one is continued on another) and a restart loses none.
 *
 * Design: every request that carries data (a PATCH, or a final PUT with a body) is stored as one
 * *part*, a complete blob of its own: the blob service streams it into chunks and writes a recipe
 * under the part's sha256, synced, before the request is answered. Then the session record
 * (upload-record.ts) gets the part appended. Once a client hears 202, its bytes survive a crash
 * and any frontend can go on. Nothing is buffered or spooled: a body is read only as fast as the
 * ingest takes it, and between requests a session costs no memory at all.
 *
 * Finishing (PUT ?digest=):
 * - One part, the usual push (docker, skopeo and containerd send a layer in one PATCH): the
 *   blob is that part; its digest is known and its recipe written. Nothing is re-read.
 * - Several parts: the blob's recipe is the parts' recipes concatenated, its digest the sha256
 *   of all their bytes. The process that stored the last part kept a running hash of them
 *   (running-hashes.ts), so finishing there re-reads nothing; elsewhere the parts are read back
 *   from the store, streamed and verified (BlobService.concatenate). The recipe is written only
 *   once the digest matches, and only if the store does not hold that blob already.
 * - No parts, and a monolithic upload (POST ?digest=, or PUT with the whole body on a fresh
 *   session): one ingest with the stated digest, which refuses a mismatch before any recipe.
 * A digest mismatch ends the session: what it received is not what the client meant.
 *
 * Trade-offs:
 * - A part is chunked on its own: there is a cut at each part boundary, and the tar-aware and
 *   compressed-blob detection see only a part's start. That costs a little dedup on multi-PATCH
 *   uploads only; the single-PATCH push most clients do is chunked exactly as a whole blob.
 * - The running hash also hashes every first part, wasted when no second part follows: about a
 *   tenth of an ingest's CPU (sha256 runs at ~1 GB/s, ingest at ~100 MB/s on one core).
 * - Parts are blobs without links. Those of a finished multi-part upload, of a cancelled or
 *   expired session, and of a chunk refused after its ingest stay in the store, unlinked, until
 *   garbage collection of unlinked recipes exists (a known future item; it must keep the parts
 *   that live session records name).
 *
 * Concurrency. The metadata API has no compare-and-set, so the rules are:
 * - In one process, one request works on a session at a time (a second one is refused with 416),
 *   and its record writes are serialized.
 * - Across processes, a part is appended only if the record's `revision` is still the one the
 *   request started from; otherwise the request gets 416 with the current Range and its part is
 *   left unlinked. Two requests racing between that re-read and the write (well-behaved clients
 *   never send two chunks of one upload at once) lose one append, but a record is always written
 *   whole and consistent, and the final digest check catches whatever the client then finishes
 *   with: nothing wrong is ever linked.
 *
 * Expiry: a session idle longer than `idleTimeoutMs` is unknown to requests and deleted by a
 * sweep any frontend runs (frontends' clocks are assumed in sync to well under the timeout).
 * A request working on a session refreshes its `updated` time meanwhile, so a long PATCH of a
 * large layer is not mistaken for an idle session by another frontend's sweep.
 */

export interface UploadLimits {
  /** Sessions open at once in the store; more are refused with TOOMANYREQUESTS. */
  maxSessions: number;
  /** Sessions one client may hold open at once, so that one client cannot take them all. */
  maxSessionsPerClient: number;
  /** A session idle this long is forgotten. */
  idleTimeoutMs: number;
}

/**
 * A session holds memory only while a request stores a part (the ingest's batches, about
 * 20 MiB at most), and one request per session runs at a time. A session between requests costs
 * a record in the store, so the cap can be generous; the per-client cap is what keeps one client
 * from taking them all (docker pushes 5 layers at once, containerd and skopeo fewer).
 */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = Object.freeze({ maxSessions: 1024, maxSessionsPerClient: 32, idleTimeoutMs: 15 * 60_000 });

/** A blob an upload produced: its recipe is committed and synced; linking it is the caller's. */
export interface CommittedBlob {
  digest: string;
  size: number;
}

export class UploadSessions {
  readonly #blobs: BlobService;
  readonly #now: () => number;
  readonly #records: UploadRecords;
  readonly #limits: UploadLimits;
  readonly #log: (line: string) => void;
  readonly #hashes = new RunningHashes();
  /** Sessions a request of this process is working on. */
  readonly #busy = new Set<string>();

  /** Requests of this process storing data into a session right now. */
  get activeRequests(): number {
    return this.#busy.size;
  }
  /** That work, for `close` to wait for. */
  readonly #work = new Set<Promise<unknown>>();
  /** The tail of each session's record writes in this process. */
  readonly #writes = new Map<string, Promise<unknown>>();
  readonly #sweeper: NodeJS.Timeout;
  #sweeping: Promise<void> | undefined;

  /** Sessions kept in `records` (a store's metadata), their parts stored as blobs in `blobs`; `now` is the clock sessions expire by. */
  constructor(records: RecordStore, blobs: BlobService, limits: UploadLimits, log: (line: string) => void, now: () => number = Date.now) {
    this.#now = now;
    this.#blobs = blobs;
    this.#records = new UploadRecords(records);
    this.#limits = limits;
    this.#log = log;
    this.#sweeper = setInterval(() => this.#sweepInBackground(), Math.min(60_000, Math.max(1000, limits.idleTimeoutMs / 4)));
    this.#sweeper.unref();
  }

  /** A new session of `repository` for `client` (who it counts against). */
  async open(repository: string, client: string): Promise<UploadSession> {
    const { total, ofClient } = await this.#countOpen(client);
    if (ofClient >= this.#limits.maxSessionsPerClient) {
      throw new RegistryError("TOOMANYREQUESTS", `this client has ${ofClient} uploads in progress, the most one client may; finish or cancel one, or retry later`, { headers: { "Retry-After": "10" } });
    }
    if (total >= this.#limits.maxSessions) {
      throw new RegistryError("TOOMANYREQUESTS", `too many uploads in progress (${this.#limits.maxSessions}); retry later`, { headers: { "Retry-After": "10" } });
    }
    const session = UploadRecords.fresh(repository, client, new Date(this.#now()));
    // Not synced: a power cut that loses an empty session costs the client a new POST, no bytes.
    await this.#records.put(session);
    return session;
  }

  /** The session `id` of `repository`; another repository's session, or an expired one, is unknown. */
  async get(repository: string, id: string): Promise<UploadSession> {
    const record = await this.#records.get(id);
    if (record === undefined || record.repository !== repository || this.#expired(record, this.#now())) throw uploadUnknown(id);
    return { id, record };
  }

  /**
   * Runs one request's work on a session: the only one in this process at a time, with the
   * session kept from expiring meanwhile.
   */
  async exclusive<T>(session: UploadSession, work: () => Promise<T>): Promise<T> {
    if (this.#busy.has(session.id)) throw rangeInvalid(session.record.offset, "another request is writing to this upload");
    this.#busy.add(session.id);
    const heartbeat = setInterval(() => void this.#touch(session.id), Math.min(60_000, this.#limits.idleTimeoutMs / 3));
    heartbeat.unref();
    const running = Promise.resolve().then(work); // a synchronous throw, too, ends up below
    this.#work.add(running);
    try {
      return await running;
    } finally {
      clearInterval(heartbeat);
      this.#work.delete(running);
      this.#busy.delete(session.id);
    }
  }

  /**
   * Stores a request body as the session's next part and appends it; resolves once both are
   * durable. If the body breaks, what arrived is kept as a part and the error rethrown after.
   */
  async appendPart(session: UploadSession, body: AsyncIterable<Uint8Array>): Promise<UploadSession> {
    const running = this.#hashes.resume(session);
    // The first part's bytes are all the running hash has seen: the part's own hash is it (most
    // clients send a blob in one part). A later part's is not, so it is hashed on its own too.
    const first = session.record.offset === 0;
    const source = new PartSource(body, first ? undefined : running);
    const part = await this.#blobs.ingest(source.pieces(), { convert: false, ...(first && running !== undefined ? { digester: running } : {}) });
    const record: UploadPart = { digest: part.digest, size: part.size, ...(part.compression === undefined ? {} : { compression: part.compression }) };
    const appended = part.size === 0 ? session : await this.#append(session, record, running);
    if (source.broken !== undefined) throw source.broken;
    return appended;
  }

  /**
   * Finishes the upload, after `lastBody` if the PUT carries one, as blob `digest`: its recipe
   * is committed, and the session is left for `end` once the caller has linked the blob.
   */
  async commit(session: UploadSession, digest: string, lastBody?: AsyncIterable<Uint8Array>): Promise<CommittedBlob> {
    try {
      if (session.record.parts.length === 0) {
        const whole = await this.#blobs.ingest(lastBody ?? noBytes(), { expectedDigest: digest });
        return { digest: whole.digest, size: whole.size };
      }
      return await this.#concatenate(lastBody === undefined ? session : await this.appendPart(session, lastBody), digest);
    } catch (error) {
      if (error instanceof DedupError && error.code === "DIGEST_MISMATCH") await this.end(session);
      throw error;
    }
  }

  /** Forgets a session (finished or cancelled); its parts stay in the store, unlinked. */
  async end(session: UploadSession): Promise<void> {
    await this.#serial(session.id, () => this.#records.delete(session.id));
    this.#hashes.delete(session.id);
  }

  /** Deletes the sessions idle longer than the timeout. Any frontend may run it at any time. */
  async sweep(now = this.#now()): Promise<void> {
    const expired: string[] = [];
    for await (const { id, record } of this.#records.scan()) {
      if (record === undefined || this.#expired(record, now)) expired.push(id);
    }
    for (const id of expired) {
      await this.#serial(id, async () => {
        // Looked at again: a request may have worked on it since the scan.
        const record = await this.#records.get(id);
        if (record === undefined || this.#expired(record, now)) await this.#records.delete(id);
      });
      this.#hashes.delete(id);
    }
  }

  /** Stops sweeping and waits for the work in flight; the sessions stay in the store. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    await this.#sweeping;
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
  }

  async #concatenate(session: UploadSession, digest: string): Promise<CommittedBlob> {
    const { parts } = session.record;
    // One part is the blob, with its digest known; several have theirs from the running hash when this process kept it.
    const known = parts.length === 1 ? parts[0]!.digest : this.#hashes.digest(session);
    return this.#blobs.concatenate(digest, parts.map((part) => part.digest), { knownDigest: known, compression: parts[0]!.compression });
  }

  async #append(session: UploadSession, part: UploadPart, running: Hash | undefined): Promise<UploadSession> {
    return this.#serial(session.id, async () => {
      const current = await this.#records.get(session.id);
      if (current === undefined || current.repository !== session.record.repository) throw uploadUnknown(session.id);
      if (current.revision !== session.record.revision) {
        throw rangeInvalid(current.offset, `another request added to this upload while this chunk was stored; it is now at byte ${current.offset}`);
      }
      const appended = { id: session.id, record: withPart(current, part, new Date(this.#now())) };
      await this.#records.put(appended);
      // The part's recipe was synced by its ingest; now the record that names it.
      await this.#records.sync();
      if (running !== undefined) this.#hashes.set(appended, running);
      return appended;
    });
  }

  /** Marks a session as worked on now, so that no frontend's sweep takes it for idle. */
  async #touch(id: string): Promise<void> {
    try {
      await this.#serial(id, async () => {
        const record = await this.#records.get(id);
        if (record !== undefined) await this.#records.put({ id, record: { ...record, updated: new Date(this.#now()).toISOString() } });
      });
    } catch (error) {
      this.#log(`upload ${id}: cannot refresh its record: ${(error as Error).message}`);
    }
  }

  /** Runs this process's writes to one session's record one after another. */
  #serial<T>(id: string, task: () => Promise<T>): Promise<T> {
    const result = (this.#writes.get(id) ?? Promise.resolve()).then(task);
    const tail = result.catch(() => undefined);
    this.#writes.set(id, tail);
    void tail.then(() => this.#writes.get(id) === tail && this.#writes.delete(id));
    return result;
  }

  /** Live sessions in the store, every frontend's, up to the cap (where counting stops): a scan, which metrics sample in the background. */
  async countLive(): Promise<number> {
    return (await this.#countOpen("")).total;
  }

  /** Live sessions, in all and of `client`; the scan stops once the total reaches the cap. */
  async #countOpen(client: string): Promise<{ total: number; ofClient: number }> {
    const now = this.#now();
    let total = 0;
    let ofClient = 0;
    for await (const { record } of this.#records.scan()) {
      if (record === undefined || this.#expired(record, now)) continue;
      total++;
      if (record.client === client) ofClient++;
      if (total >= this.#limits.maxSessions) break;
    }
    return { total, ofClient };
  }

  #expired(record: UploadRecord, now: number): boolean {
    return lastActive(record) < now - this.#limits.idleTimeoutMs;
  }

  #sweepInBackground(): void {
    if (this.#sweeping !== undefined) return;
    this.#sweeping = this.sweep()
      .catch((error: unknown) => this.#log(`sweeping expired uploads: ${(error as Error).message}`))
      .finally(() => (this.#sweeping = undefined));
  }
}

/**
 * A request body as the source of a part. It also feeds the upload's running hash, and it ends
 * quietly when the connection breaks (the client went away), so that the bytes which did arrive
 * are stored and counted and the client can resume from there; the caller rethrows `broken`
 * then. A body the registry refuses (a RegistryError: past its Content-Range, too large, too
 * slow) fails the part instead: nothing of it is added to the upload.
 */
class PartSource {
  broken: unknown;
  readonly #body: AsyncIterable<Uint8Array>;
  readonly #hash: Hash | undefined;

  constructor(body: AsyncIterable<Uint8Array>, hash: Hash | undefined) {
    this.#body = body;
    this.#hash = hash;
  }

  async *pieces(): AsyncGenerator<Uint8Array> {
    try {
      for await (const piece of this.#body) {
        this.#hash?.update(piece);
        yield piece;
      }
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      this.broken = error;
    }
  }
}

async function* noBytes(): AsyncGenerator<Uint8Array> {}

function uploadUnknown(id: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_UNKNOWN", "no such upload in progress", { detail: { uuid: id.slice(0, 100) } });
}

/** 416 with the upload's current Range, as the spec asks for a chunk that does not start there. */
export function rangeInvalid(offset: number, message: string): RegistryError {
  return new RegistryError("BLOB_UPLOAD_INVALID", message, { status: 416, headers: uploadRangeHeaders(offset), detail: { offset } });
}

/** `Range: 0-<last byte>`; an empty upload says `0-0`, as CNCF distribution does. */
export function uploadRangeHeaders(offset: number): Record<string, string> {
  return { Range: `0-${Math.max(0, offset - 1)}` };
}
