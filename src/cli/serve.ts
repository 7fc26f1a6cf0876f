import type { Command, Option } from "commander";
import { buildMirrorConfig, loadServeConfig, parseUpstreamFlag, type MirrorConfig, type MirrorEntry, type ServeConfig } from "../config/serve-config.js";
import { startSite, type Site } from "../sites/site.js";
import { readTlsFiles } from "../config/tls-files.js";
import { checkPeers, checkPeerScheme, checkSchedule, checkSiteName, parsePeerFlag, parseProbeIntervalFlag, readPeerTls, readSecretFile, type SiteConfig } from "../config/site-config.js";
import { addPeerTlsOptions, PEER_TLS_FLAG_NAMES, peerTlsFiles, type PeerTlsFlags } from "./peer-tls-flags.js";
import { addAuthOptions, buildServeAuth } from "./serve-auth.js";
import type { AuthSettings } from "../config/auth-settings.js";
import { DedupError } from "../errors.js";
import { createRegistryServer } from "../registry/app.js";
import { createSeedApiServer, pullableBlobs } from "../registry/seed-api.js";
import { DEFAULT_UPLOAD_LIMITS } from "../registry/upload-session.js";
import { DEFAULT_REQUEST_LIMITS } from "../registry/limits.js";
import { openStore, storeLocation } from "../store/open.js";
import { BlobParts, BlobService } from "../layers/blob-service.js";
import { parseDuration } from "../config/duration.js";
import { DEFAULT_GC_GRACE } from "./gc.js";
import { scheduleCollections } from "./gc-schedule.js";
import { chunkCacheBytes, openGzipCache, type CacheFlags } from "./serve-caches.js";

export const DEFAULT_LISTEN = "127.0.0.1:5000";

export function serveCommand(command: Command, storeOption: Option): void {
  command
    .description("run the registry: OCI Distribution Spec v1.1 over plain HTTP (HTTPS with --tls-cert/--tls-key), on the store")
    .addOption(storeOption)
    .option("--listen <host:port>", "address to listen on (port 0 picks a free one)", DEFAULT_LISTEN)
    .option("--tls-cert <file>", "serve HTTPS with this PEM certificate (chain); needs --tls-key")
    .option("--tls-key <file>", "the PEM private key of --tls-cert")
    .option("--access-log", "log every request on stderr")
    .option("--upload-timeout <seconds>", "cancel an upload idle this long", String(DEFAULT_UPLOAD_LIMITS.idleTimeoutMs / 1000))
    .option("--max-uploads <n>", "uploads in progress at once, counted in the store (all frontends on it together)", String(DEFAULT_UPLOAD_LIMITS.maxSessions))
    .option("--max-uploads-per-client <n>", "uploads in progress at once from one client address", String(DEFAULT_UPLOAD_LIMITS.maxSessionsPerClient))
    .option("--max-connections-per-client <n>", "connections one client address may hold open", String(DEFAULT_REQUEST_LIMITS.maxConnectionsPerClient))
    .option("--max-blob-size <bytes>", "the largest blob a push may create", String(DEFAULT_REQUEST_LIMITS.maxBlobBytes))
    .option("--min-body-rate <bytes/s>", `cut a request body slower than this, judged over ${DEFAULT_REQUEST_LIMITS.bodyWindowMs / 1000} s`, String(DEFAULT_REQUEST_LIMITS.minBodyBytesPerSecond))
    .option("--gc-interval <duration>", "collect garbage this often: what no repository or upload needs (0: never; `docker-dedup gc` does it by hand)", "1h")
    .option("--gc-grace <duration>", "how long something stays unneeded before garbage collection deletes it", DEFAULT_GC_GRACE)
    .option("--chunk-cache-mb <MiB>", "decoded chunks kept in memory for warm pulls (0: none; default $DOCKER_DEDUP_CHUNK_CACHE_MB or 512)")
    .option("--gzip-cache-mb <MiB>", "re-created gzip layers kept on disk for the next pull (0: none; default $DOCKER_DEDUP_GZIP_CACHE_MB or 2048)")
    .option("--gzip-cache-dir <dir>", "where (default: gzip-cache in an embedded store's directory, else under $XDG_CACHE_HOME/docker-dedup)")
    .option("--max-concurrent-reads <n>", "blobs rebuilt at once, others queue in arrival order (0: no limit; 1: one layer at a time)", "0")
    .option("--seed-api <host:port>", "also answer docker_dedup's /checkout, /is_available and /info here, for Dragonfly's dfdaemon")
    .option("--seed-api-dir <dir>", "the only directory /checkout may write into (required with --seed-api)")
    .option("--config <file>", "JSON settings file (mirror mode: mirrors, defaultNamespace, manifestTtlSeconds; tlsCert, tlsKey; auth: htpasswd, authPolicy, token*; see README)")
    .option(
      "--upstream <[namespace=]url>",
      "mirror mode: pull through this registry (repeatable); the namespace defaults to the URL's host (docker.io for Docker Hub); pushes to mirrored names are refused",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--site <name>", "make this registry one site of several: its name (with --peer-listen, --peer-secret-file, --peer)")
    .option("--peer <name=url>", "another site and its peer API, e.g. lyon=http://10.0.0.2:5001 (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--peer-listen <host:port>", "where this site answers its peers (not the registry's address)")
    .option("--peer-secret-file <file>", "the secret all sites share, authenticating every peer request")
    .option("--schedule <policy>", "how a pull splits missing chunks among peers: network-aware (default), random, single-source")
    .option("--probe-interval <seconds>", "measure the links transfers leave idle this often, with a short download from each peer (0, the default: never)");
  addAuthOptions(addPeerTlsOptions(command))
    .action(async (flags: ServeFlags) => {
      const { host, port } = parseListen(flags.listen);
      const seedApi = flags.seedApi === undefined ? undefined : parseListen(flags.seedApi);
      if (seedApi !== undefined && flags.seedApiDir === undefined) throw new DedupError("INPUT_INVALID", "--seed-api needs --seed-api-dir, the directory /checkout may write into");
      const uploads = {
        idleTimeoutMs: positiveNumber(flags.uploadTimeout, "--upload-timeout") * 1000,
        maxSessions: positiveNumber(flags.maxUploads, "--max-uploads"),
        maxSessionsPerClient: positiveNumber(flags.maxUploadsPerClient, "--max-uploads-per-client"),
      };
      const limits = {
        maxConnectionsPerClient: positiveNumber(flags.maxConnectionsPerClient, "--max-connections-per-client"),
        maxBlobBytes: positiveNumber(flags.maxBlobSize, "--max-blob-size"),
        minBodyBytesPerSecond: positiveNumber(flags.minBodyRate, "--min-body-rate"),
      };
      const maxConcurrentReads = Number(flags.maxConcurrentReads);
      if (!Number.isSafeInteger(maxConcurrentReads) || maxConcurrentReads < 0) {
        throw new DedupError("INPUT_INVALID", `bad --max-concurrent-reads "${flags.maxConcurrentReads}": expected 0 or a positive integer`);
      }
      if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new DedupError("INPUT_INVALID", "--tls-cert and --tls-key go together: give both or neither");
      const log = (line: string) => process.stderr.write(`docker-dedup: ${line}\n`);
      const file = flags.config === undefined ? undefined : await loadServeConfig(flags.config);
      const auth = await buildServeAuth(flags, file?.auth, log);
      const mirror = mirrorSettings(file, flags.upstream);
      const tlsFiles = flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { cert: flags.tlsCert, key: flags.tlsKey } : file?.tls;
      const tls = tlsFiles === undefined ? undefined : await readTlsFiles(tlsFiles);
      const siteConfig = await siteSettings(file, flags);
      const location = storeLocation(flags.store, file?.store);
      const recreated = await openGzipCache(flags, location);
      const local = await openStore(location, { create: true });
      const parts = new BlobParts({ chunkCacheBytes: chunkCacheBytes(flags), ...(recreated === undefined ? {} : { recreated }) });
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
      const registry = createRegistryServer({ store, blobs, log, uploads, limits, maxConcurrentReads, accessLog: flags.accessLog ?? false, ...(mirror === undefined ? {} : { mirror }), ...(tls === undefined ? {} : { tls }), ...(auth === undefined ? {} : { auth: auth.registry }) });
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
        throw new DedupError("INPUT_INVALID", `cannot listen on ${flags.listen}: ${e.code === "EADDRINUSE" ? "address already in use" : e.message}`);
      }
      // The seed API has no users: with auth on, it answers what anonymous clients may pull.
      const seedAccess = auth === undefined ? {} : { mayServe: pullableBlobs(registry.registry.meta, auth.mayPullAnonymously) };
      const seedServer = seedApi === undefined ? undefined : createSeedApiServer({ blobs, checkoutDir: flags.seedApiDir!, ...seedAccess });
      if (seedServer !== undefined) {
        await new Promise<void>((resolve, reject) => {
          seedServer.once("error", (error: NodeJS.ErrnoException) => reject(new DedupError("INPUT_INVALID", `cannot listen on ${flags.seedApi}: ${error.message}`)));
          seedServer.listen(seedApi!.port, seedApi!.host, () => resolve());
        });
        const view = auth === undefined ? "" : ", answering for the blobs of repositories anonymous users may pull";
        process.stderr.write(`docker-dedup: seed API (/checkout, /is_available, /info) on http://${flags.seedApi}, writing into ${flags.seedApiDir}${view}\n`);
      }
      const address = registry.server.address();
      const where = typeof address === "object" && address !== null ? formatAddress(address.address, address.port) : flags.listen;
      // Tests and scripts read the port from this line when they asked for port 0.
      process.stderr.write(`docker-dedup: registry listening on ${tls === undefined ? "http" : "https"}://${where} (store ${store.location})\n`);
      if (auth !== undefined) log(auth.summary);
      if (site !== undefined && siteConfig !== undefined) {
        const peerAddress = site.peerServer.address();
        const peerWhere = typeof peerAddress === "object" && peerAddress !== null ? formatAddress(peerAddress.address, peerAddress.port) : "?";
        const peers = siteConfig.peers.map((p) => `${p.name} (${p.url})`).join(", ") || "none yet";
        const probes = siteConfig.probeIntervalSeconds > 0 ? `; link probes every ${siteConfig.probeIntervalSeconds} s` : "";
        process.stderr.write(`docker-dedup: site ${siteConfig.site}: peer API on ${siteConfig.access.tls === undefined ? "http" : "https"}://${peerWhere}${siteConfig.access.tls === undefined ? "" : " (mutual TLS)"}; peers: ${peers}; schedule ${siteConfig.schedule}${probes}\n`);
      }
      const collections = scheduleCollections(blobs, store, parseDuration(flags.gcInterval, "--gc-interval"), parseDuration(flags.gcGrace, "--gc-grace"), log);
      const resumed = await blobs.resumeConversions();
      if (resumed > 0) log(`converting ${resumed} gzip layers left from before the last stop`);
      for (const m of mirror?.mirrors ?? []) {
        const isDefault = m.namespace === mirror?.defaultNamespace ? ", the default namespace" : "";
        process.stderr.write(`docker-dedup: mirroring ${m.namespace} from ${m.upstream}${m.username === undefined ? "" : ` as ${m.username}`}${isDefault}\n`);
      }

      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`docker-dedup: ${signal}: shutting down\n`);
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
      await collections.stop();
      await site?.close();
      await blobs.close();
      await parts.close();
      await store.close();
      await auth?.close();
    });
}

interface ServeFlags extends PeerTlsFlags, AuthSettings, CacheFlags {
  store?: string;
  listen: string;
  accessLog?: boolean;
  uploadTimeout: string;
  maxUploads: string;
  maxUploadsPerClient: string;
  maxConnectionsPerClient: string;
  maxBlobSize: string;
  minBodyRate: string;
  maxConcurrentReads: string;
  gcInterval: string;
  gcGrace: string;
  config?: string;
  upstream: string[];
  seedApi?: string;
  seedApiDir?: string;
  tlsCert?: string;
  tlsKey?: string;
  site?: string;
  peer: string[];
  peerListen?: string;
  peerSecretFile?: string;
  schedule?: string;
  probeInterval?: string;
}

/** The site settings from flags, else the config file; undefined when this registry is no site. */
async function siteSettings(file: ServeConfig | undefined, flags: ServeFlags): Promise<SiteConfig | undefined> {
  const fromFile = file?.sites;
  const name = flags.site ?? fromFile?.site;
  const peerFlags = flags.peer.map(parsePeerFlag);
  if (name === undefined) {
    const siteFlags = [flags.peerListen, flags.peerSecretFile, flags.schedule, flags.probeInterval, ...Object.values(peerTlsFiles(flags))];
    if (fromFile !== undefined || peerFlags.length > 0 || siteFlags.some((flag) => flag !== undefined)) {
      throw new DedupError("INPUT_INVALID", "--peer, --peer-listen, --peer-secret-file, --peer-tls-*, --schedule and --probe-interval need --site NAME (or \"site\" in the config file)");
    }
    return undefined;
  }
  const site = checkSiteName(name, "--site");
  const peerListen = flags.peerListen ?? fromFile?.peerListen;
  const secretFile = flags.peerSecretFile ?? fromFile?.peerSecretFile;
  if (peerListen === undefined || secretFile === undefined) throw new DedupError("INPUT_INVALID", "a site needs --peer-listen HOST:PORT and --peer-secret-file FILE");
  const tlsFlags = peerTlsFiles(flags);
  const tls = Object.values(tlsFlags).some((file) => file !== undefined)
    ? await readPeerTls(tlsFlags, PEER_TLS_FLAG_NAMES)
    : await readPeerTls(fromFile?.peerTls ?? {}, ["peerTlsCert", "peerTlsKey", "peerTlsCa"]);
  const peers = checkPeers(site, [...(fromFile?.peers ?? []), ...peerFlags]);
  for (const peer of peers) checkPeerScheme(peer.url, tls !== undefined, `peer ${peer.name}`);
  return {
    site,
    peers,
    peerListen: parseListen(peerListen, "--peer-listen"),
    access: { secret: await readSecretFile(secretFile), ...(tls === undefined ? {} : { tls }) },
    schedule: checkSchedule(flags.schedule ?? fromFile?.schedule ?? "network-aware"),
    probeIntervalSeconds: flags.probeInterval === undefined ? (fromFile?.probeInterval ?? 0) : parseProbeIntervalFlag(flags.probeInterval),
  };
}

/** Mirrors from the config file, then from `--upstream` flags; undefined when there are none. */
function mirrorSettings(file: ServeConfig | undefined, upstreams: string[]): MirrorConfig | undefined {
  const fromFile = file?.mirror;
  const fromFlags: MirrorEntry[] = upstreams.map(parseUpstreamFlag);
  if (fromFile === undefined && fromFlags.length === 0) return undefined;
  const mirrors = [...(fromFile?.mirrors ?? []), ...fromFlags];
  return buildMirrorConfig(mirrors, {
    defaultNamespace: file?.defaultNamespaceGiven ? fromFile?.defaultNamespace : undefined,
    manifestTtlSeconds: fromFile?.manifestTtlSeconds,
  });
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
export function parseListen(text: string, flag = "--listen"): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new DedupError("INPUT_INVALID", `bad ${flag} "${text}": expected HOST:PORT, e.g. 127.0.0.1:5000`);
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function positiveNumber(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new DedupError("INPUT_INVALID", `bad ${flag} "${text}": expected a positive number`);
  return value;
}
