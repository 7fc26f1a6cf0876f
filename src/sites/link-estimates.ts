import type { MetadataStore } from "../store/types.js";
import { siteKeys } from "./site-keys.js";

/** A link nobody configured or measured yet: 100 Mbit/s. */
export const DEFAULT_BYTES_PER_SECOND = 12_500_000;
/** Weight of a new measurement against the estimate: recent transfers count most, one odd sample does not. */
const SMOOTHING = 0.3;

/**
 * Bandwidth of each peer's link to this site, in bytes per second: the configured figure (or
 * the default) at first, then learned from what transfers achieve, exponentially smoothed, and
 * persisted (`sites/link/<peer>`) so a restart starts from what was learned.
 */
export class LinkEstimates {
  readonly #meta: MetadataStore;
  readonly #current = new Map<string, number>();

  private constructor(meta: MetadataStore) {
    this.#meta = meta;
  }

  static async load(meta: MetadataStore, configured: ReadonlyMap<string, number | undefined>): Promise<LinkEstimates> {
    const links = new LinkEstimates(meta);
    for (const [peer, bytesPerSecond] of configured) {
      const saved = await meta.getMeta(siteKeys.link(peer));
      const learned = saved === undefined ? undefined : (JSON.parse(saved.toString("utf8")) as { bytesPerSecond: number }).bytesPerSecond;
      links.#current.set(peer, learned ?? bytesPerSecond ?? DEFAULT_BYTES_PER_SECOND);
    }
    return links;
  }

  get(peer: string): number {
    return this.#current.get(peer) ?? DEFAULT_BYTES_PER_SECOND;
  }

  /** Folds in a measurement: `bytes` arrived from `peer` in `seconds` of the link being busy. */
  async observe(peer: string, bytes: number, seconds: number): Promise<void> {
    if (!(seconds > 0) || bytes <= 0) return;
    const estimate = (1 - SMOOTHING) * this.get(peer) + SMOOTHING * (bytes / seconds);
    this.#current.set(peer, estimate);
    await this.#meta.putMeta(siteKeys.link(peer), Buffer.from(JSON.stringify({ bytesPerSecond: Math.round(estimate), updated: new Date().toISOString() })));
  }
}
