import { randomBytes as cryptoRandomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { SchedulePolicy } from "../../src/config/site-config.js";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { RecreatedCache } from "../../src/layers/gzip/recreated-cache.js";
import { createRegistryServer, type RegistryServer } from "../../src/registry/app.js";
import { startSite, type Site } from "../../src/sites/site.js";
import { PEER_API_PREFIX } from "../../src/sites/wire/peer-protocol.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/types.js";
import { tempDir } from "../helpers.js";
import { freePort } from "./site-harness.js";

type TestContext = { after(fn: () => unknown): void };

/**
 * Sites in the test's own process, as `serve --site` wires them (a registry over the SiteStore,
 * the site's own store beside it): a test can look into a site's store while it runs, and wait
 * for its gzip conversions (`blobs.conversionsSettled()`).
 */
export interface InProcessSite {
  name: string;
  /** The registry's URL. */
  url: string;
  /** The peer API's URL (without the /dd-peer/v2/ prefix). */
  peerUrl: string;
  /** The site's own store (not the SiteStore over it). */
  local: Store;
  /** The registry's blobs (over the SiteStore). */
  blobs: BlobService;
  /** The site's and the registry's log lines. */
  logs: string[];
  /** Stops the registry and the site, and closes the store (idempotent). */
  stop(): Promise<void>;
}

export interface InProcessCluster {
  secret: string;
  /** Peer URLs by site name; a test may point one at a proxy before the site that uses it starts. */
  peerUrls: Map<string, string>;
  /** `gzipCache`: re-created gzip layers kept on disk, as serve does by default (off here unless asked, so that reads re-create). */
  start(name: string, options?: { schedule?: SchedulePolicy; gzipCache?: boolean }): Promise<InProcessSite>;
  /** A peer API call as an operator makes it (with the secret). */
  peerCall(name: string, path: string, init?: RequestInit): Promise<Response>;
}

export async function inProcessCluster(t: TestContext, names: string[]): Promise<InProcessCluster> {
  const dir = await tempDir(t);
  const secret = cryptoRandomBytes(24).toString("hex");
  const ports = new Map<string, number>();
  for (const name of names) ports.set(name, await freePort());
  const peerUrls = new Map(names.map((name) => [name, `http://127.0.0.1:${ports.get(name)}`]));
  const ownUrls = new Map(peerUrls);
  return {
    secret,
    peerUrls,
    peerCall: (name, path, init = {}) => fetch(`${ownUrls.get(name)}${PEER_API_PREFIX}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), Authorization: `Bearer ${secret}` } }),
    start: async (name, options = {}) => {
      const local = await openStore(join(dir, name), { create: true });
      const recreated = options.gzipCache ? await RecreatedCache.open(join(dir, `${name}-gzip-cache`), 256 << 20) : undefined;
      const parts = new BlobParts({ chunkCacheBytes: 64 << 20, codecThreads: 2, encodeThreads: 2, ...(recreated === undefined ? {} : { recreated }) });
      const logs: string[] = [];
      const log = (line: string) => {
        logs.push(line);
        if (process.env.DOCKER_DEDUP_TEST_LOG) console.log(`[${name}] ${line}`);
      };
      const peers = names.filter((other) => other !== name).map((other) => ({ name: other, url: peerUrls.get(other)! }));
      const site: Site = await startSite(
        local,
        { site: name, peers, peerListen: { host: "127.0.0.1", port: ports.get(name)! }, access: { secret }, schedule: options.schedule ?? "network-aware", probeIntervalSeconds: 0 },
        log,
        parts,
      );
      const blobs = new BlobService(site.store, parts, log);
      const registry: RegistryServer = createRegistryServer({ store: site.store, blobs, log });
      await new Promise<void>((resolve) => registry.server.listen(0, "127.0.0.1", resolve));
      const { port } = registry.server.address() as AddressInfo;
      let stopped: Promise<void> | undefined;
      const stop = () =>
        (stopped ??= (async () => {
          registry.server.closeAllConnections();
          await registry.close();
          await blobs.close();
          await site.close();
          await parts.close();
          await local.close();
        })());
      t.after(stop);
      return { name, url: `http://127.0.0.1:${port}`, peerUrl: ownUrls.get(name)!, local, blobs, logs, stop };
    },
  };
}
