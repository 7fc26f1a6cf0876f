import type { Command } from "commander";
import { readSiteConfig, serveConfigOf } from "../config/serve-config.js";
import { withDefaults } from "../config/serve-settings.js";
import { parseListen } from "../config/listen.js";
import { startSite, type Site } from "../sites/site.js";
import { readTlsFiles } from "../config/tls-files.js";
import { buildServeAuth } from "./serve-auth.js";
import { DedupError } from "../errors.js";
import { createRegistryServer } from "../registry/app.js";
import { createSeedApiServer, pullableBlobs } from "../registry/seed-api.js";
import { openStore } from "../store/open.js";
import { BlobParts, BlobService } from "../layers/blob-service.js";
import { parseDuration } from "../config/duration.js";
import { untaggedRetention } from "./gc.js";
import { scheduleCollections } from "./gc-schedule.js";
import { mebibytes, openGzipCache } from "./serve-caches.js";
import { addSettingOptions, resolveFlags } from "./serve-options.js";
import { createLogger, logLines } from "../observe/logger.js";
import { Observability } from "../observe/observability.js";
import { WebPage } from "../ui/web-page.js";

export function serveCommand(command: Command): void {
  command.description("run the registry: OCI Distribution Spec v1.1 over plain HTTP (HTTPS with --tls-cert/--tls-key), on the store");
  addSettingOptions(command)
    .action(async (flags: Record<string, unknown>) => {
      const resolved = await resolveFlags(flags);
      const config = serveConfigOf(resolved);
      const settings = withDefaults(resolved.settings);
      const { host, port } = parseListen(settings.listen);
      const seedApi = settings.seedApi === undefined ? undefined : parseListen(settings.seedApi, "--seed-api");
      const uploads = { idleTimeoutMs: settings.uploadTimeout * 1000, maxSessions: settings.maxUploads, maxSessionsPerClient: settings.maxUploadsPerClient };
      const limits = { maxConnectionsPerClient: settings.maxConnectionsPerClient, maxBlobBytes: settings.maxBlobSize, minBodyBytesPerSecond: settings.minBodyRate };
      // Domain code logs lines through `log`; the edge gives them time, level and JSON (observe/logger.ts).
      const logger = createLogger({ level: settings.logLevel });
      const log = logLines(logger);
      const auth = await buildServeAuth(config.auth, log);
      const tls = config.tls === undefined ? undefined : await readTlsFiles(config.tls);
      const siteConfig = config.sites === undefined ? undefined : await readSiteConfig(config.sites);
      const location = settings.store;
      const recreated = await openGzipCache(settings, location);
      const observe = new Observability({ metricsListen: settings.metricsListen, accessLog: settings.accessLog ? logger : undefined }, log);
      const local = observe.watchStore(await openStore(location, { create: true }));
      const parts = new BlobParts({ chunkCacheBytes: mebibytes(settings.chunkCacheMb), ...(recreated === undefined ? {} : { recreated }) });
      // A promise nobody awaited failed: a bug (the fuzz suite looks for this line), not a reason
      // to take down every client's requests with the process.
      process.on("unhandledRejection", (reason) => log(`bug: unhandled promise rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
      let site: Site | undefined;
      try {
        site = siteConfig === undefined ? undefined : await startSite(local, siteConfig, log, parts);
      } catch (error) {
        await local.close();
        throw error;
      }
      const store = site?.store ?? local;
      const blobs = new BlobService(store, parts, log);
      // The web page at /ui/: a site's view is handed in from here, so that nothing under ui/ starts or imports one.
      const running = site;
      const siteView = running === undefined ? undefined : { name: siteConfig!.site, peers: () => running.peers(), holdersOf: (digest: string) => running.holdersOf(digest), replications: () => running.replications() };
      const webPage = new WebPage({ store, blobs, site: siteView, totals: () => observe.latestSummary() });
      const registry = createRegistryServer({ store, blobs, log, uploads, limits, maxConcurrentReads: settings.maxConcurrentReads, pages: webPage.pages, ...observe.registryOptions(), ...(config.mirror === undefined ? {} : { mirror: config.mirror }), ...(tls === undefined ? {} : { tls }), ...(auth === undefined ? {} : { auth: auth.registry }) });
      try {
        await new Promise<void>((resolve, reject) => {
          registry.server.once("error", reject);
          registry.server.listen(port, host, () => resolve());
        });
      } catch (error) {
        await site?.close();
        await parts.close();
        await store.close();
        await auth?.close();
        const e = error as NodeJS.ErrnoException;
        throw new DedupError("INPUT_INVALID", `cannot listen on ${settings.listen}: ${e.code === "EADDRINUSE" ? "address already in use" : e.message}`);
      }
      // The seed API has no users: with auth on, it answers what anonymous clients may pull.
      const seedAccess = auth === undefined ? {} : { mayServe: pullableBlobs(registry.registry.meta, auth.mayPullAnonymously) };
      const seedServer = seedApi === undefined ? undefined : createSeedApiServer({ blobs, checkoutDir: settings.seedApiDir!, ...seedAccess });
      if (seedServer !== undefined) {
        await new Promise<void>((resolve, reject) => {
          seedServer.once("error", (error: NodeJS.ErrnoException) => reject(new DedupError("INPUT_INVALID", `cannot listen on ${settings.seedApi}: ${error.message}`)));
          seedServer.listen(seedApi!.port, seedApi!.host, () => resolve());
        });
        const view = auth === undefined ? "" : ", answering for the blobs of repositories anonymous users may pull";
        logger.info(`seed API (/checkout, /is_available, /info) on http://${settings.seedApi}, writing into ${settings.seedApiDir}${view}`);
      }
      const address = registry.server.address();
      const where = typeof address === "object" && address !== null ? formatAddress(address.address, address.port) : settings.listen;
      // Tests and scripts read the port from this line when they asked for port 0 (in JSON, from its `msg`).
      const url = `${tls === undefined ? "http" : "https"}://${where}`;
      logger.info({ url, store: store.location }, `registry listening on ${url} (store ${store.location})`);
      if (auth !== undefined) log(auth.summary);
      log(await observe.start({ parts, blobs, registry, site }));
      webPage.start();
      if (site !== undefined && siteConfig !== undefined) {
        const peerAddress = site.peerServer.address();
        const peerWhere = typeof peerAddress === "object" && peerAddress !== null ? formatAddress(peerAddress.address, peerAddress.port) : "?";
        const peers = siteConfig.peers.map((p) => `${p.name} (${p.url})`).join(", ") || "none yet";
        const probes = siteConfig.probeIntervalSeconds > 0 ? `; link probes every ${siteConfig.probeIntervalSeconds} s` : "";
        logger.info(`site ${siteConfig.site}: peer API on ${siteConfig.access.tls === undefined ? "http" : "https"}://${peerWhere}${siteConfig.access.tls === undefined ? "" : " (mutual TLS)"}; peers: ${peers}; schedule ${siteConfig.schedule}${probes}`);
      }
      const collections = scheduleCollections(
        blobs,
        store,
        {
          intervalMs: parseDuration(String(settings.gcInterval), "gcInterval"),
          graceMs: parseDuration(String(settings.gcGrace), "gcGrace"),
          untagged: untaggedRetention(settings.gcKeepUntagged, settings.gcUntaggedOlderThan, "gcUntaggedOlderThan"),
        },
        log,
      );
      const resumed = await blobs.resumeConversions();
      if (resumed > 0) log(`converting ${resumed} gzip layers left from before the last stop`);
      const warmUpStart = performance.now();
      blobs.warmUpEncoders().then(
        (encoders) => {
          if (encoders.length > 0) log(`gzip encoders warmed up in ${((performance.now() - warmUpStart) / 1000).toFixed(1)} s: ${encoders.join("; ")}`);
        },
        (error: Error) => log(`gzip encoders not warmed up: ${error.message}`),
      );
      for (const m of config.mirror?.mirrors ?? []) {
        const isDefault = m.namespace === config.mirror?.defaultNamespace ? ", the default namespace" : "";
        logger.info(`mirroring ${m.namespace} from ${m.upstream}${m.username === undefined ? "" : ` as ${m.username}`}${isDefault}`);
      }

      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info(`${signal}: shutting down`);
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      // Requests in flight get a few seconds to finish; then their connections are cut.
      const force = setTimeout(() => registry.server.closeAllConnections(), 5000);
      if (seedServer !== undefined) await new Promise((resolve) => seedServer.close(resolve));
      await registry.close();
      clearTimeout(force);
      await observe.close();
      webPage.close();
      await collections.stop();
      await site?.close();
      await blobs.close();
      await parts.close();
      await store.close();
      await auth?.close();
    });
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
