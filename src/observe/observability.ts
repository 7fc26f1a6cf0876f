import type { Server } from "node:http";
import { collectDefaultMetrics, Registry } from "prom-client";
import { parseListen } from "../config/listen.js";
import { DedupError } from "../errors.js";
import type { BlobParts, BlobService } from "../layers/blob-service.js";
import type { BlobSummary } from "../layers/summary.js";
import type { PlainEndpoint, RegistryOptions, RegistryServer } from "../registry/app.js";
import type { RequestRecord } from "../registry/request-record.js";
import type { Site } from "../sites/site.js";
import type { Store } from "../store/types.js";
import { structuredAccessLog, type FieldLogger } from "./access-log.js";
import { BackgroundSample } from "./background-sample.js";
import { registerMirrorMetrics, registerSiteMetrics, registerUploadMetrics } from "./edge-metrics.js";
import { createOpsServer, healthEndpoints, metricsEndpoint } from "./endpoints.js";
import { HttpMetrics } from "./http-metrics.js";
import { registerLayerMetrics } from "./layer-metrics.js";
import { Readiness } from "./readiness.js";
import { countingFailures } from "./store-failures.js";
import { registerStoreMetrics, type StoreTotals } from "./store-metrics.js";

export interface ObserveSettings {
  /** Serve /metrics (and /healthz, /readyz) on this HOST:PORT instead of at /metrics on the registry's port. */
  metricsListen?: string | undefined;
  /** A structured access log: each request's record through this logger (pino's `info(fields, msg)`). */
  accessLog?: FieldLogger | undefined;
}

/** What serve has built, for the metrics to read. */
export interface Observed {
  parts: BlobParts;
  blobs: BlobService;
  registry: RegistryServer;
  site?: Site | undefined;
}

/**
 * serve's operator view, wired at the edge in three steps: `watchStore` (the store's failures
 * counted, and readiness checked against it), `registryOptions` (each request's record to the
 * metrics and the access log; /healthz, /readyz and /metrics), then `start` (the metrics of what
 * was built, the store's totals sampled in the background, the --metrics-listen listener).
 *
 * One private Prometheus registry per process, made here and handed down, never prom-client's
 * global one. A scrape reads running totals and the last sample, nothing more: O(1) whatever
 * the store holds (bench/metrics-scrape.ts measures it).
 */
export class Observability {
  readonly register = new Registry();
  readonly #settings: ObserveSettings;
  readonly #log: (line: string) => void;
  readonly #http: HttpMetrics;
  readonly #failures = new Map<string, number>();
  #readiness: Readiness | undefined;
  #started = false;
  #site: Site | undefined;
  #totals: BackgroundSample<StoreTotals> | undefined;
  #opsServer: Server | undefined;

  constructor(settings: ObserveSettings, log: (line: string) => void) {
    this.#settings = settings;
    this.#log = log;
    if (settings.metricsListen !== undefined) parseListen(settings.metricsListen, "--metrics-listen");
    // The process's own figures (CPU, memory, event loop lag, heap), under their standard names
    // (process_*, nodejs_*), which dashboards for any Node.js service expect.
    collectDefaultMetrics({ register: this.register });
    this.#http = new HttpMetrics(this.register);
  }

  /** The store with its failures counted (wrap the local one, under any site): readiness writes to it too. */
  watchStore(store: Store): Store {
    const watched = countingFailures(store, (operation) => this.#failures.set(operation, (this.#failures.get(operation) ?? 0) + 1));
    this.#readiness = new Readiness({ store: watched, also: () => this.#waitingFor(), log: this.#log });
    return watched;
  }

  /** What createRegistryServer takes from here: who hears of each request, and the plain endpoints. */
  registryOptions(): Required<Pick<RegistryOptions, "onRequest" | "endpoints">> {
    if (this.#readiness === undefined) throw new Error("watchStore comes first");
    const endpoints = new Map<string, PlainEndpoint>(healthEndpoints(this.#readiness));
    if (this.#settings.metricsListen === undefined) endpoints.set(...metricsEndpoint(this.register));
    const accessLog = this.#settings.accessLog === undefined ? undefined : structuredAccessLog(this.#settings.accessLog);
    const onRequest = (record: RequestRecord) => {
      this.#http.observe(record);
      accessLog?.(record);
    };
    return { onRequest, endpoints };
  }

  /** Registers the metrics of what serve built, takes the store's totals, and opens --metrics-listen; where the metrics are, for serve's log. */
  async start(observed: Observed): Promise<string> {
    const { parts, blobs, registry, site } = observed;
    this.#site = site;
    this.#started = true;
    const activity = parts.activity;
    this.#totals = new BackgroundSample<StoreTotals>(async () => ({ summary: await blobs.summary(), uploadSessions: await registry.registry.uploads.countLive() }), {
      changes: () => activity.ingestedBlobs + activity.collections + this.#http.writes,
      log: this.#log,
      what: "the store's totals",
    });
    registerLayerMetrics(this.register, parts);
    registerStoreMetrics(this.register, this.#totals, this.#failures);
    registerUploadMetrics(this.register, registry.registry.uploads);
    if (registry.mirror !== undefined) registerMirrorMetrics(this.register, registry.mirror);
    if (site !== undefined) registerSiteMetrics(this.register, site);
    this.#totals.start();
    if (this.#settings.metricsListen === undefined) return "metrics at /metrics on the registry's address";
    return `metrics at http://${await this.#listen(this.#settings.metricsListen)}/metrics`;
  }

  /** The store's last totals and when they were taken (ms since the epoch); undefined before the first. */
  latestSummary(): { value: BlobSummary; at: number } | undefined {
    const latest = this.#totals?.latest;
    return latest === undefined ? undefined : { value: latest.value.summary, at: latest.at };
  }

  /** Takes the store's totals now (tests; the background sampling does it by itself). */
  async refreshTotals(): Promise<void> {
    await this.#totals?.refresh();
  }

  async close(): Promise<void> {
    await this.#totals?.stop();
    const server = this.#opsServer;
    if (server !== undefined) {
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
    }
  }

  async #listen(address: string): Promise<string> {
    const { host, port } = parseListen(address, "--metrics-listen");
    const endpoints = new Map<string, PlainEndpoint>([...healthEndpoints(this.#readiness!), metricsEndpoint(this.register)]);
    const server = createOpsServer(endpoints, this.#log);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => reject(new DedupError("INPUT_INVALID", `cannot listen on ${address} (--metrics-listen): ${error.code === "EADDRINUSE" ? "address already in use" : error.message}`)));
      server.listen(port, host, () => resolve());
    });
    this.#opsServer = server;
    const bound = server.address();
    return typeof bound === "object" && bound !== null ? (bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`) : address;
  }

  /** Ready once serve started; a site once each of its peers answered or failed a first read of its change log: until then it may serve tags its peers changed while it was down. */
  #waitingFor(): string | undefined {
    if (!this.#started) return "starting";
    const waiting = this.#site?.peers().filter((peer) => peer.answered === undefined) ?? [];
    return waiting.length === 0 ? undefined : `waiting for the first answer of ${waiting.length} peer${waiting.length === 1 ? "" : "s"}`;
  }
}
