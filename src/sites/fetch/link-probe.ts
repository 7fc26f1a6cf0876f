import type { PeerClient } from "../wire/peer-client.js";
import { MAX_PROBE_BYTES, MIN_PROBE_BYTES } from "../wire/peer-protocol.js";
import type { LinkEstimates } from "./link-estimates.js";
import type { PeerLane } from "./peer-lane.js";

/**
 * A probe is sized to last about this long at the link's estimated rate: long enough that the
 * time is the link's and not the first round trips', short enough to leave the link soon to a
 * transfer that starts meanwhile.
 */
const PROBE_SECONDS = 0.5;

/** What the prober needs of a peer's lane (peer-lane.ts): the peer, and whether transfers use the link. */
export type ProbedLane = Pick<PeerLane, "bytesInFlight" | "requestsSent"> & { readonly peer: Pick<PeerClient, "name" | "probe"> };

export interface LinkProberOptions {
  lanes: readonly ProbedLane[];
  links: LinkEstimates;
  intervalSeconds: number;
  log: (line: string) => void;
}

/**
 * Keeps the estimates of links that transfers leave alone up to date (`serve --probe-interval`):
 * every interval, each peer whose lane has nothing in flight and whose link no transfer measured
 * within the interval is asked for a `probe` (wire/peer-protocol.ts) of about PROBE_SECONDS at the
 * current estimate, and the rate measured is folded into the estimate as a transfer's would be.
 * Links in use need no probe: their transfers measure them. A peer's probes never overlap, and a
 * peer that fails them is said once, then again once it answers.
 */
export class LinkProber {
  readonly #options: LinkProberOptions;
  /** The probe under way to each peer. */
  readonly #probing = new Map<string, Promise<void>>();
  /** Peers whose last probe failed (and was said to). */
  readonly #failing = new Set<string>();
  readonly #stopped = new AbortController();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LinkProberOptions) {
    this.#options = options;
  }

  start(): void {
    this.#timer = setInterval(() => void this.probeIdleLinks(), this.#options.intervalSeconds * 1000);
  }

  /** Stops the timer and cuts the probes under way; nothing is measured or said after it resolves. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopped.abort();
    await Promise.all(this.#probing.values());
  }

  /** One round (the timer's): probes each idle link not being probed already; resolves when those probes end. Never rejects. */
  async probeIdleLinks(): Promise<void> {
    const started: Promise<void>[] = [];
    for (const lane of this.#options.lanes) {
      const peer = lane.peer.name;
      if (this.#stopped.signal.aborted || this.#probing.has(peer) || !this.#idle(lane)) continue;
      const probe = this.#probe(lane).finally(() => this.#probing.delete(peer));
      this.#probing.set(peer, probe);
      started.push(probe);
    }
    await Promise.all(started);
  }

  #idle(lane: ProbedLane): boolean {
    if (lane.bytesInFlight > 0) return false;
    const measured = this.#options.links.transferMeasuredAt(lane.peer.name);
    return measured === undefined || Date.now() - measured >= this.#options.intervalSeconds * 1000;
  }

  async #probe(lane: ProbedLane): Promise<void> {
    const { links, log, intervalSeconds } = this.#options;
    const peer = lane.peer.name;
    const bytes = Math.round(Math.min(MAX_PROBE_BYTES, Math.max(MIN_PROBE_BYTES, links.get(peer) * PROBE_SECONDS)));
    const requestsBefore = lane.requestsSent;
    try {
      const measured = await lane.peer.probe(bytes, this.#stopped.signal);
      // A transfer that shared the link meanwhile got part of it, and measures the link itself.
      if (lane.requestsSent === requestsBefore && !this.#stopped.signal.aborted) await links.observe(peer, measured.bytes, measured.seconds, "probe");
    } catch (error) {
      if (this.#stopped.signal.aborted) return;
      if (!this.#failing.has(peer)) log(`link probe of peer ${peer} failed: ${(error as Error).message} (probing again every ${intervalSeconds} s; said again once it works)`);
      this.#failing.add(peer);
      return;
    }
    if (this.#failing.delete(peer)) log(`link probe of peer ${peer} works again`);
  }
}
