import { randomUUID } from "node:crypto";
import { ingestBlob, type IngestResult } from "../layers/ingest.js";
import { chunkCacheFor } from "../layers/chunk-cache.js";
import type { Store } from "../store/types.js";
import { RegistryError } from "./oci-errors.js";

/**
 * Blob upload sessions, streamed straight into the dedup store.
 *
 * Design: one `ingestBlob` per session, started by the first PATCH (or by the PUT of a
 * monolithic upload) and kept open across requests. Its source is a generator that hands it
 * each request body in turn, so bytes are hashed and chunked as they arrive and no request
 * body, let alone a whole blob, is ever held in memory: a body is read only as fast as the
 * ingest takes it. The session keeps only the offset and the ingest's own bounded buffers.
 *
 * Trade-offs, chosen over spooling to a temp file:
 * - No second copy of every byte on disk and no re-read at the end: a pushed layer is
 *   written once, as chunks.
 * - A session lives in this process. A restart forgets it; clients then get
 *   BLOB_UPLOAD_UNKNOWN and start that blob over (docker, containerd and skopeo do).
 *   Within the process, a PATCH whose connection breaks keeps what arrived, and the client
 *   can ask for the offset (GET) and resume there.
 * - The stated digest is known only at the final PUT, after the bytes went in. If it differs,
 *   the blob is refused (DIGEST_INVALID, nothing linked), but its recipe stays in the store
 *   under its true digest, unlinked, until garbage collection. When the whole blob comes in
 *   one request (POST ?digest= or PUT with body on a fresh session), ingest checks the digest
 *   itself and writes nothing on a mismatch.
 */

type Input =
  | { kind: "data"; body: AsyncIterable<Uint8Array>; settle: Settle }
  | { kind: "end" }
  | { kind: "abort"; reason: unknown };

interface Settle {
  resolve(): void;
  reject(error: unknown): void;
}

function settleOnce(inner: Settle): Settle & { readonly settled: boolean } {
  let settled = false;
  return {
    get settled() {
      return settled;
    },
    resolve() {
      if (!settled) (settled = true), inner.resolve();
    },
    reject(error: unknown) {
      if (!settled) (settled = true), inner.reject(error);
    },
  };
}

export class UploadSession {
  readonly id = randomUUID();
  readonly repository: string;
  readonly #store: Store;
  #offset = 0;
  #lastActive = Date.now();
  #busy = false;
  #ingest: Promise<IngestResult> | undefined;
  /** The one input the feed has not taken yet; requests on a session are serialized by `claim`. */
  #input = deferred<Input>();
  /** The body the feed is reading now, to fail its request if the ingest dies under it. */
  #current: Settle | undefined;
  #aborted: unknown;

  constructor(store: Store, repository: string) {
    this.#store = store;
    this.repository = repository;
  }

  /** Bytes received so far; the next PATCH must start here. */
  get offset(): number {
    return this.#offset;
  }

  /** True once the session cannot go on (cancelled, or its ingest failed). */
  get failed(): boolean {
    return this.#aborted !== undefined;
  }

  get idleSince(): number {
    return this.#busy ? Date.now() : this.#lastActive;
  }

  /** Marks the session as in use by one request; a second concurrent request is refused. */
  claim(): () => void {
    if (this.#busy) {
      throw new RegistryError("RANGE_INVALID", "another request is writing to this upload", { detail: { offset: this.#offset } });
    }
    this.#throwIfDead();
    this.#busy = true;
    return () => {
      this.#busy = false;
      this.#lastActive = Date.now();
    };
  }

  /** Feeds one request body into the blob; resolves once the ingest has taken all of it. */
  async append(body: AsyncIterable<Uint8Array>): Promise<void> {
    this.#throwIfDead();
    this.#start(undefined);
    await new Promise<void>((resolve, reject) => this.#input.resolve({ kind: "data", body, settle: { resolve, reject } }));
  }

  /**
   * Ends the blob (after `lastBody`, if any) and waits until it is committed. A session that
   * has not started yet passes `digest` to the ingest, which then refuses a mismatch before
   * writing its recipe.
   */
  async complete(lastBody: AsyncIterable<Uint8Array> | undefined, digest: string): Promise<IngestResult> {
    this.#throwIfDead();
    this.#start(digest);
    if (lastBody !== undefined) await this.append(lastBody);
    this.#input.resolve({ kind: "end" });
    const result = await this.#ingest!;
    if (result.digest !== digest) {
      throw new RegistryError("DIGEST_INVALID", `uploaded content has digest ${result.digest}, not ${digest}`, { detail: { expected: digest, actual: result.digest } });
    }
    return result;
  }

  /** Cancels the upload; a started ingest stops without writing a recipe. */
  abort(reason: unknown = new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload cancelled")): void {
    if (this.#aborted !== undefined) return;
    this.#aborted = reason;
    this.#input.resolve({ kind: "abort", reason });
  }

  #start(expectedDigest: string | undefined): void {
    if (this.#ingest !== undefined) return;
    this.#ingest = ingestBlob(this.#store, this.#feed(), { expectedDigest, cache: chunkCacheFor(this.#store) });
    this.#ingest.catch((error: unknown) => {
      this.#aborted ??= error;
      this.#current?.reject(error);
    });
  }

  async *#feed(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const input = await this.#input.promise;
      this.#input = deferred<Input>();
      if (input.kind === "end") return;
      if (input.kind === "abort") throw input.reason;
      const settle = settleOnce(input.settle);
      this.#current = settle;
      try {
        for await (const piece of input.body) {
          if (this.#aborted !== undefined) throw this.#aborted;
          this.#offset += piece.length;
          yield piece;
        }
        settle.resolve();
      } catch (error) {
        // The request body broke (the client went away, or sent more than it declared).
        // What arrived stays in the blob; the client may resume at the new offset.
        settle.reject(error);
        if (this.#aborted !== undefined) throw this.#aborted;
      } finally {
        // Left unsettled only when the ingest stopped pulling (it failed): its rejection
        // handler in #start settles the request then.
        if (settle.settled) this.#current = undefined;
      }
    }
  }

  #throwIfDead(): void {
    if (this.#aborted === undefined) return;
    if (this.#aborted instanceof RegistryError && this.#aborted.code === "BLOB_UPLOAD_UNKNOWN") throw this.#aborted;
    throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "this upload failed and was cancelled; start it again", { cause: this.#aborted });
  }
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export interface UploadLimits {
  /** Sessions open at once; more are refused with TOOMANYREQUESTS. */
  maxSessions: number;
  /** A session idle this long is cancelled. */
  idleTimeoutMs: number;
}

/**
 * A started session holds the ingest's pending batch (up to about 4 MiB) while it waits for
 * the next request, so the session cap is also a memory cap: 128 x 4 MiB at worst.
 */
export const DEFAULT_UPLOAD_LIMITS: UploadLimits = Object.freeze({ maxSessions: 128, idleTimeoutMs: 15 * 60_000 });

/** The open sessions of one server, found by id and owned by the repository that opened them. */
export class UploadSessions {
  readonly #store: Store;
  readonly #limits: UploadLimits;
  readonly #sessions = new Map<string, UploadSession>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(store: Store, limits: UploadLimits = DEFAULT_UPLOAD_LIMITS) {
    this.#store = store;
    this.#limits = limits;
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(60_000, Math.max(1000, limits.idleTimeoutMs / 4)));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  open(repository: string): UploadSession {
    if (this.#sessions.size >= this.#limits.maxSessions) {
      throw new RegistryError("TOOMANYREQUESTS", `too many uploads in progress (${this.#limits.maxSessions}); retry later`, { headers: { "Retry-After": "10" } });
    }
    const session = new UploadSession(this.#store, repository);
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The session `id` of `repository`; another repository's session is unknown here. */
  get(repository: string, id: string): UploadSession {
    const session = this.#sessions.get(id);
    if (session === undefined || session.repository !== repository) {
      throw new RegistryError("BLOB_UPLOAD_UNKNOWN", "no such upload in progress", { detail: { uuid: id.slice(0, 100) } });
    }
    return session;
  }

  /** Forgets a session, cancelling it if it has not completed. */
  close(session: UploadSession, reason?: unknown): void {
    this.#sessions.delete(session.id);
    session.abort(reason);
  }

  closeAll(): void {
    for (const session of [...this.#sessions.values()]) this.close(session);
    clearInterval(this.#sweeper);
  }

  #sweep(): void {
    const oldest = Date.now() - this.#limits.idleTimeoutMs;
    for (const session of [...this.#sessions.values()]) {
      if (session.idleSince < oldest) this.close(session, new RegistryError("BLOB_UPLOAD_UNKNOWN", "upload expired after being idle"));
    }
  }
}
