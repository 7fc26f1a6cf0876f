import type { MetadataStore } from "../../store/types.js";
import { siteKeys } from "../log/site-keys.js";
import type { LinkEstimate } from "../wire/operator-calls.js";

/** A link nobody configured or measured yet: 100 Mbit/s. */
export const DEFAULT_BYTES_PER_SECOND = 12_500_000;
/** Weight of a new measurement against the estimate: recent transfers count most, one odd sample does not. */
const SMOOTHING = 0.3;
/** ...unless it is off by this factor or more: then the link changed (a route, a congested path), and it replaces the estimate. */
const CHANGED_FACTOR = 2;

/**
 * Bandwidth of each peer's link to this site, in bytes per second: the configured figure (or
 * the default) at first, then learned from what transfers achieve, exponentially smoothed (a
 * measurement off by 2x or more replaces the estimate), and
 * persisted (`sites/link/<peer>`) so a restart starts from what was learned.
 */
export class LinkEstimates {
  readonly #meta: MetadataStore;
  readonly #current = new Map<string, number>();
  readonly #configured = new Map<string, number | undefined>();
  readonly #updated = new Map<string, string>();
  /** When a transfer last measured each link (Date.now()); not persisted: it only tells the prober a link needs no probe now. */
  readonly #transferMeasuredAt = new Map<string, number>();

  private constructor(meta: MetadataStore) {
    this.#meta = meta;
  }

  static async load(meta: MetadataStore, configured: ReadonlyMap<string, number | undefined>): Promise<LinkEstimates> {
    const links = new LinkEstimates(meta);
    for (const [peer, bytesPerSecond] of configured) {
      const saved = await meta.getMeta(siteKeys.link(peer));
      const record = saved === undefined ? undefined : (JSON.parse(saved.toString("utf8")) as { bytesPerSecond: number; updated?: string });
      links.#configured.set(peer, bytesPerSecond);
      if (record?.updated !== undefined) links.#updated.set(peer, record.updated);
      links.#current.set(peer, record?.bytesPerSecond ?? bytesPerSecond ?? DEFAULT_BYTES_PER_SECOND);
    }
    return links;
  }

  get(peer: string): number {
    return this.#current.get(peer) ?? DEFAULT_BYTES_PER_SECOND;
  }

  /** The estimate for `peer`, with where it comes from (for `docker-dedup sites`). */
  describe(peer: string): LinkEstimate {
    const configured = this.#configured.get(peer);
    const updated = this.#updated.get(peer);
    const source = updated !== undefined ? "learned" : configured !== undefined ? "configured" : "default";
    return { bytesPerSecond: Math.round(this.get(peer)), configured, source, updated };
  }

  /** When a transfer (not a probe) last measured the link from `peer`, as Date.now(); undefined if none since this site started. */
  transferMeasuredAt(peer: string): number | undefined {
    return this.#transferMeasuredAt.get(peer);
  }

  /** Folds in a measurement: `bytes` arrived from `peer` in `seconds` of the link being busy, during a transfer or a probe (link-probe.ts). */
  async observe(peer: string, bytes: number, seconds: number, by: "transfer" | "probe" = "transfer"): Promise<void> {
    if (!(seconds > 0) || bytes <= 0) return;
    if (by === "transfer") this.#transferMeasuredAt.set(peer, Date.now());
    const measured = bytes / seconds;
    const current = this.get(peer);
    // Smoothing a change away would keep planning on a rate the link no longer has for seconds.
    const changed = measured * CHANGED_FACTOR < current || measured > current * CHANGED_FACTOR;
    const estimate = changed ? measured : (1 - SMOOTHING) * current + SMOOTHING * measured;
    const updated = new Date().toISOString();
    this.#current.set(peer, estimate);
    this.#updated.set(peer, updated);
    await this.#meta.putMeta(siteKeys.link(peer), Buffer.from(JSON.stringify({ bytesPerSecond: Math.round(estimate), updated })));
  }
}
