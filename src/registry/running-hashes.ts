import { createHash, type Hash } from "node:crypto";
import type { UploadSession } from "./upload-record.js";

/**
 * The sha256 state over everything an upload received so far, kept by the process that
 * stored its last part, so that finishing a multi-part upload here re-reads nothing. An entry
 * counts only for the exact record revision it was computed for: a session another frontend
 * appended to since (or that lost a race) misses, and its digest is computed from the store.
 * Small (a few hundred bytes per session) and bounded; losing an entry only costs a re-read.
 */
export class RunningHashes {
  readonly #capacity: number;
  readonly #entries = new Map<string, { revision: string; hash: Hash }>();

  constructor(capacity = 1024) {
    this.#capacity = capacity;
  }

  /** A hash to go on with, owned by the caller: empty at offset 0, else a copy of the cached one. */
  resume(session: UploadSession): Hash | undefined {
    if (session.record.offset === 0) return createHash("sha256");
    const entry = this.#entries.get(session.id);
    return entry?.revision === session.record.revision ? entry.hash.copy() : undefined;
  }

  /** The digest of the session's bytes, if this process followed it to its current revision. */
  digest(session: UploadSession): string | undefined {
    const hash = this.resume(session);
    return hash === undefined ? undefined : `sha256:${hash.digest("hex")}`;
  }

  set(session: UploadSession, hash: Hash): void {
    this.#entries.delete(session.id);
    this.#entries.set(session.id, { revision: session.record.revision, hash });
    // Map order is insertion order: the first entry is the one least recently appended to.
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }
}
