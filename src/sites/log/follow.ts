import type { MetadataStore } from "../../store/types.js";
import type { PeerClient } from "../wire/peer-client.js";
import type { SiteChanges } from "./site-changes.js";
import { siteKeys } from "./site-keys.js";

/** How often each peer's log is read when it had nothing new. */
export const DEFAULT_POLL_INTERVAL_MS = 1000;

/**
 * Follows every peer's change log: reads it from where this site stopped (persisted per peer, so
 * a site that was down or joins later catches up), on start-up and then every interval, applying
 * each entry (site-changes.ts). A peer that cannot be reached is logged once, and again when it
 * answers.
 */
export class LogFollower {
  readonly #loops: Promise<void>[];
  readonly #stopped = new AbortController();
  /** Whether each peer answered its last read (a peer not asked yet is absent): readiness and metrics read it. */
  readonly #answered = new Map<string, boolean>();

  constructor(peers: readonly PeerClient[], changes: SiteChanges, meta: MetadataStore, log: (line: string) => void, intervalMs = DEFAULT_POLL_INTERVAL_MS) {
    this.#loops = peers.map((peer) => this.#follow(peer, changes, meta, log, intervalMs));
  }

  /** Whether `peer` answered the last read of its log; undefined before the first read ended. */
  answered(peer: string): boolean | undefined {
    return this.#answered.get(peer);
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    await Promise.all(this.#loops);
  }

  async #follow(peer: PeerClient, changes: SiteChanges, meta: MetadataStore, log: (line: string) => void, intervalMs: number): Promise<void> {
    const positionKey = siteKeys.peerPosition(peer.name);
    let position = Number((await meta.getMeta(positionKey))?.toString("utf8") ?? 0);
    let reachable = true;
    while (!this.#stopped.signal.aborted) {
      let more = false;
      try {
        const { entries, head } = await peer.log(position);
        if (!reachable) log(`peer ${peer.name} is reachable again`);
        reachable = true;
        this.#answered.set(peer.name, true);
        // Applying an entry twice is harmless (it is not newer the second time), so the
        // position is saved once a page, not once an entry.
        for (const entry of entries) {
          if (this.#stopped.signal.aborted) break;
          await changes.apply(entry);
          position = entry.seq;
        }
        if (entries.length > 0) await meta.putMeta(positionKey, Buffer.from(String(position)));
        more = position < head;
      } catch (error) {
        if (reachable) log(`cannot read peer ${peer.name}'s changes: ${(error as Error).message}`);
        reachable = false;
        this.#answered.set(peer.name, false);
      }
      if (!more) await sleep(intervalMs, this.#stopped.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
