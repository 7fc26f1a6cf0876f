import type { Recipe } from "../../store/recipe.js";
import type { Store } from "../../store/types.js";
import type { ChangeEntry } from "../wire/peer-protocol.js";
import { ChangeLog } from "./change-log.js";
import { ChunkLocations } from "./chunk-locations.js";
import { isShared, siteKeys } from "./site-keys.js";

interface Stamp {
  time: number;
  site: string;
}

/**
 * The metadata side of a site: every write of a shared key (site-keys.ts) made here or
 * learned from a peer goes through this class, which keeps who wrote each key last (its stamp)
 * and appends what changed to the site's log. Last writer wins by (time, site), so all sites
 * end with the same value whatever order they learn changes in. Changes learned from a peer are
 * logged again (relayed), so a site catches up from any live peer, not only from the site that
 * made a change; a change is applied, hence relayed, only if it is newer than what the site
 * has, which is what stops it circling.
 */
export class SiteChanges {
  readonly site: string;
  readonly log: ChangeLog;
  readonly locations: ChunkLocations;
  readonly #store: Store;
  /** One write of a shared key at a time: a stamp is read, compared and written without interleaving. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(site: string, store: Store, log: ChangeLog) {
    this.site = site;
    this.#store = store;
    this.log = log;
    this.locations = new ChunkLocations(store);
  }

  static async open(site: string, store: Store, log?: (line: string) => void): Promise<SiteChanges> {
    return new SiteChanges(site, store, await ChangeLog.open(store, log));
  }

  /** A write (value) or delete (null) made at this site. Its time is after the stamp it overwrites, whatever the clocks say. */
  writeLocal(key: string, value: Uint8Array | null): Promise<void> {
    return this.#exclusive(async () => {
      const previous = await this.#stampOf(key);
      const time = Math.max(Date.now(), (previous?.time ?? 0) + 1);
      await this.#write(key, value, { time, site: this.site });
    });
  }

  /** Commits a blob's recipe (its chunks are committed already) and tells the peers this site holds it. */
  async commitRecipe(recipe: Recipe): Promise<void> {
    await this.#store.putRecipe(recipe);
    await this.log.append({ site: this.site, time: Date.now(), holds: recipe.digest });
  }

  /**
   * Tells the peers this site holds a blob it stores otherwise than as a recipe (a gzip layer as
   * its content and form: the content's recipe was announced when it was committed).
   */
  async announceHolds(digest: string): Promise<void> {
    await this.log.append({ site: this.site, time: Date.now(), holds: digest });
  }

  /** A change read from a peer's log. */
  apply(entry: ChangeEntry): Promise<void> {
    if (typeof entry.site !== "string" || typeof entry.time !== "number") return Promise.resolve();
    if ("holds" in entry) return this.#applyHolds(entry.site, entry.holds, entry.time);
    if (typeof entry.key !== "string" || !isShared(entry.key)) return Promise.resolve();
    return this.#exclusive(async () => {
      const current = await this.#stampOf(entry.key);
      if (current !== undefined && !isNewer(entry, current)) return;
      await this.#write(entry.key, entry.value === null ? null : Buffer.from(entry.value, "base64"), { time: entry.time, site: entry.site });
    });
  }

  async #applyHolds(site: string, digest: string, time: number): Promise<void> {
    if (site === this.site || typeof digest !== "string") return;
    if (await this.locations.recordHolds(site, digest)) await this.log.append({ site, time, holds: digest });
  }

  async #write(key: string, value: Uint8Array | null, stamp: Stamp): Promise<void> {
    if (value === null) await this.#store.deleteMeta(key);
    else await this.#store.putMeta(key, value);
    await this.#store.putMeta(siteKeys.stamp(key), Buffer.from(`${stamp.time} ${stamp.site}`));
    await this.log.append({ ...stamp, key, value: value === null ? null : Buffer.from(value).toString("base64") });
  }

  async #stampOf(key: string): Promise<Stamp | undefined> {
    const text = (await this.#store.getMeta(siteKeys.stamp(key)))?.toString("utf8");
    if (text === undefined) return undefined;
    const space = text.indexOf(" ");
    return { time: Number(text.slice(0, space)), site: text.slice(space + 1) };
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function isNewer(a: Stamp, b: Stamp): boolean {
  return a.time > b.time || (a.time === b.time && a.site > b.site);
}
