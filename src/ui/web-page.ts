import type { BlobParts, BlobService } from "../layers/blob-service.js";
import { SharingIndex } from "../layers/sharing.js";
import type { PagesUnder } from "../registry/app.js";
import { RegistryMetadata } from "../registry/metadata.js";
import type { Store } from "../store/types.js";
import { Overview } from "./overview.js";
import { webPages } from "./pages.js";
import type { SitesView } from "./sites.js";
import { TotalsHistory } from "./totals-history.js";

export interface WebPageOptions {
  /** The store the registry runs on, and its blobs. */
  store: Store;
  blobs: BlobService;
  /** The parts the blobs run on: what this process changed in the store (activity). */
  parts: BlobParts;
  site?: SitesView | undefined;
  log: (line: string) => void;
}

/** Chunks whose recipes the sharing computation keeps between two computations: about 36 MB. */
const SHARING_CACHE_CHUNKS = 1_000_000;
/** The store's totals: a sample a minute, a day of them. */
const TOTALS_INTERVAL_MS = 60_000;
const TOTALS_KEPT = 24 * 60;

/**
 * serve's web page (ui/), built in two steps as serve needs them: `pages` for the registry's
 * server, then `start` once the registry listens (the first sample of the store's totals).
 */
export class WebPage {
  readonly pages: PagesUnder;
  readonly #totals: TotalsHistory;

  constructor(options: WebPageOptions) {
    const { store, blobs, parts, site, log } = options;
    const changes = () => parts.activity.ingestedBlobs + parts.activity.collections;
    this.#totals = new TotalsHistory({ summary: () => blobs.summary(), changes, intervalMs: TOTALS_INTERVAL_MS, keep: TOTALS_KEPT, log });
    const sharing = new SharingIndex((digest) => blobs.chunksOf(digest), SHARING_CACHE_CHUNKS);
    const overview = new Overview({ meta: new RegistryMetadata(store), blobs, sharing, now: Date.now });
    this.pages = webPages({ overview, totals: this.#totals, site });
  }

  start(): void {
    this.#totals.start();
  }

  close(): Promise<void> {
    return this.#totals.stop();
  }
}
