import type { MetadataStore } from "../store/types.js";
import { siteKeys } from "./site-keys.js";

/**
 * One change a site made or learned, as peers read it from the site's log:
 *  - a metadata write (`value`, base64) or delete (`value` null) under `registry/`;
 *  - `holds`: `site` holds the whole blob `holds` (its recipe, hence all its chunks).
 * `time` (ms) and `site` order writes to one key: the greater (time, site) wins everywhere.
 */
export type ChangeEntry = MetaChange | HoldsChange;

export interface MetaChange {
  seq: number;
  site: string;
  time: number;
  key: string;
  value: string | null;
}

export interface HoldsChange {
  seq: number;
  site: string;
  time: number;
  holds: string;
}

export type NewChange = Omit<MetaChange, "seq"> | Omit<HoldsChange, "seq">;

/**
 * The site's change log, persisted in its store's metadata (`sites/log/<seq>`), so that a peer
 * that was down, or joins later, reads what it missed from its last position. Sequence numbers
 * are this site's own; appends are written one after the other, so a reader never sees seq n+1
 * before n (it would move past n for good).
 */
export class ChangeLog {
  readonly #meta: MetadataStore;
  #head: number;
  #writes: Promise<void> = Promise.resolve();

  private constructor(meta: MetadataStore, head: number) {
    this.#meta = meta;
    this.#head = head;
  }

  static async open(meta: MetadataStore): Promise<ChangeLog> {
    // The head record is written after each entry: entries past it are those a crash cut short of it.
    let head = Number((await meta.getMeta(siteKeys.logHead))?.toString("utf8") ?? 0);
    for await (const [key] of meta.scanMeta(siteKeys.logPrefix, siteKeys.logEntry(head))) head = Math.max(head, siteKeys.seqOfLogKey(key));
    return new ChangeLog(meta, head);
  }

  get head(): number {
    return this.#head;
  }

  /** Appends a change; resolves once it is committed. */
  append(change: NewChange): Promise<void> {
    const entry = { ...change, seq: ++this.#head };
    const write = this.#writes.then(async () => {
      await this.#meta.putMeta(siteKeys.logEntry(entry.seq), Buffer.from(JSON.stringify(entry)));
      await this.#meta.putMeta(siteKeys.logHead, Buffer.from(String(entry.seq)));
    });
    this.#writes = write.catch(() => undefined);
    return write;
  }

  /** Up to `limit` entries after `after`, in order. */
  async read(after: number, limit: number): Promise<ChangeEntry[]> {
    const entries: ChangeEntry[] = [];
    if (after >= this.#head) return entries;
    for await (const [key, value] of this.#meta.scanMeta(siteKeys.logPrefix, siteKeys.logEntry(after))) {
      if (siteKeys.seqOfLogKey(key) <= after) continue;
      entries.push(JSON.parse(value.toString("utf8")) as ChangeEntry);
      if (entries.length >= limit) break;
    }
    return entries;
  }
}
