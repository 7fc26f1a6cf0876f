import type { MetadataStore } from "../../store/types.js";
import type { ChangeEntry, HoldsChange, MetaChange } from "../wire/peer-protocol.js";
import { siteKeys } from "./site-keys.js";

/** A change to append: the log gives it its sequence number. Entries are stored as peers read them (ChangeEntry, wire/peer-protocol.ts). */
export type NewChange = Omit<MetaChange, "seq"> | Omit<HoldsChange, "seq">;

/** The log is compacted (`compact`) when it opens and after this many appends. */
const COMPACT_EVERY_APPENDS = 10_000;

/**
 * The site's change log, persisted in its store's metadata (`sites/log/<seq>`), so that a peer
 * that was down, or joins later, reads what it missed from its last position. Sequence numbers
 * are this site's own; appends are written one after the other, so a reader never sees seq n+1
 * before n (it would move past n for good).
 */
export class ChangeLog {
  readonly #meta: MetadataStore;
  readonly #log: (line: string) => void;
  #head: number;
  #writes: Promise<void> = Promise.resolve();
  #appendsSinceCompaction = 0;
  #compaction: Promise<void> | undefined;

  private constructor(meta: MetadataStore, head: number, log: (line: string) => void) {
    this.#meta = meta;
    this.#head = head;
    this.#log = log;
  }

  /** Opens the log and starts compacting it in the background; `log` hears of a compaction that failed. */
  static async open(meta: MetadataStore, log: (line: string) => void = () => undefined): Promise<ChangeLog> {
    // The head record is written after each entry: entries past it are those a crash cut short of it.
    let head = Number((await meta.getMeta(siteKeys.logHead))?.toString("utf8") ?? 0);
    for await (const [key] of meta.scanMeta(siteKeys.logPrefix, siteKeys.logEntry(head))) head = Math.max(head, siteKeys.seqOfLogKey(key));
    const changeLog = new ChangeLog(meta, head, log);
    changeLog.#compactInBackground();
    return changeLog;
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
    if (++this.#appendsSinceCompaction >= COMPACT_EVERY_APPENDS) this.#compactInBackground();
    return write;
  }

  /**
   * Deletes the entries that a later entry of this log supersedes: the same registry key written
   * again, or the same holding announced again. A reader would apply only the newest of them
   * anyway (this site logs a change only when it is newer than what it had), and one that is in
   * the middle of the log loses nothing, since whatever superseded an entry lies further on. So
   * the log stays as long as the set of keys, however often they are rewritten (a tag pushed
   * every hour). Resolves with the number of entries deleted.
   */
  async compact(): Promise<number> {
    const lastSeqOf = new Map<string, number>();
    const superseded: number[] = [];
    for await (const [, value] of this.#meta.scanMeta(siteKeys.logPrefix)) {
      const entry = JSON.parse(value.toString("utf8")) as ChangeEntry;
      const subject = "holds" in entry ? `holds ${entry.site} ${entry.holds}` : `key ${entry.key}`;
      const previous = lastSeqOf.get(subject);
      if (previous !== undefined) superseded.push(previous);
      lastSeqOf.set(subject, entry.seq);
    }
    for (const seq of superseded) await this.#meta.deleteMeta(siteKeys.logEntry(seq));
    return superseded.length;
  }

  /** Settles when the compaction under way, if any, has ended. */
  async compacted(): Promise<void> {
    await this.#compaction;
  }

  #compactInBackground(): void {
    if (this.#compaction !== undefined) return;
    this.#appendsSinceCompaction = 0;
    this.#compaction = this.compact()
      .then(
        () => undefined,
        (error: Error) => this.#log(`compacting the change log failed (it is left longer, nothing is lost): ${error.message}`),
      )
      .finally(() => (this.#compaction = undefined));
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
