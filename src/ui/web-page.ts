import type { BlobService } from "../layers/blob-service.js";
import { SharingIndex } from "../layers/sharing.js";
import type { PagesUnder } from "../registry/app.js";
import { RegistryMetadata } from "../registry/metadata.js";
import type { Store } from "../store/types.js";
import { Overview } from "./overview.js";
import { webPages } from "./pages.js";
import type { SitesView } from "./sites.js";
import { TotalsHistory, type TotalsHistoryOptions } from "./totals-history.js";

export interface WebPageOptions {
  /** The store the registry runs on, and its blobs. */
  store: Store;
  blobs: BlobService;
  /** The store's last totals and when they were taken: serve's background sample (TotalsHistoryOptions.latest). */
  totals: TotalsHistoryOptions["latest"];
  site?: SitesView | undefined;
}

/** Chunks whose recipes the sharing computation keeps between two computations: about 36 MB. */
const SHARING_CACHE_CHUNKS = 1_000_000;
/** The store's totals: looked for every minute; the last 1,440 samples kept (12 h at most one per 30 s, days on a quiet store). */
const TOTALS_INTERVAL_MS = 60_000;
const TOTALS_KEPT = 24 * 60;

/**
 * serve's web page (ui/), built in two steps as serve needs them: `pages` for the registry's
 * server, then `start` once the registry listens (the history of the store's totals).
 */
export class WebPage {
  readonly pages: PagesUnder;
  readonly #totals: TotalsHistory;

  constructor(options: WebPageOptions) {
    const { store, blobs, site } = options;
    this.#totals = new TotalsHistory({ latest: options.totals, intervalMs: TOTALS_INTERVAL_MS, keep: TOTALS_KEPT });
    const sharing = new SharingIndex((digest) => blobs.chunksOf(digest), SHARING_CACHE_CHUNKS);
    const overview = new Overview({ meta: new RegistryMetadata(store), blobs, sharing, now: Date.now });
    this.pages = webPages({ overview, totals: this.#totals, site });
  }

  start(): void {
    this.#totals.start();
  }

  close(): void {
    this.#totals.stop();
  }
}
