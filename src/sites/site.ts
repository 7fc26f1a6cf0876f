import type { Server } from "node:http";
import { DedupError } from "../errors.js";
import { chunkCacheFor } from "../layers/chunk-cache.js";
import type { Store } from "../store/types.js";
import { LinkEstimates } from "./link-estimates.js";
import { LinkProber } from "./link-probe.js";
import { createPeerApiServer } from "./peer-api.js";
import { PeerClient } from "./peer-client.js";
import { PeerLane } from "./peer-lane.js";
import { RemoteBlobs } from "./remote-blobs.js";
import { ReplicatedStore } from "./replicated-store.js";
import { SiteAdmin } from "./site-admin.js";
import { Replication } from "./replication.js";
import { SiteChanges } from "./site-changes.js";
import type { SiteConfig } from "./site-config.js";

export interface Site {
  /** The store the registry runs on (replicated-store.ts). */
  readonly store: Store;
  /** The peer API, listening. */
  readonly peerServer: Server;
  /** Stops following peers and answering them, and waits for fetches under way; the store stays open. */
  close(): Promise<void>;
}

/** Makes the store a site: follows the peers' changes, answers them, fetches what it lacks from them. */
export async function startSite(local: Store, config: SiteConfig, log: (line: string) => void): Promise<Site> {
  const changes = await SiteChanges.open(config.site, local, log);
  const peers = config.peers.map((peer) => new PeerClient(peer, config.access, config.peerListen.host));
  const links = await LinkEstimates.load(local, new Map(config.peers.map((peer) => [peer.name, peer.bytesPerSecond])));
  const lanes = peers.map((peer) => new PeerLane(peer, links));
  const remote = new RemoteBlobs({
    store: local,
    cache: chunkCacheFor(local),
    lanes,
    locations: changes.locations,
    links,
    policy: config.schedule,
    commit: (recipe) => changes.commitRecipe(recipe),
    log,
  });
  const admin = new SiteAdmin({ site: config.site, schedule: config.schedule, local, head: () => changes.log.head, peers, locations: changes.locations, links, remote });
  const peerServer = createPeerApiServer({ site: config.site, store: local, log: changes.log, access: config.access, logLine: log, admin });
  await new Promise<void>((resolve, reject) => {
    peerServer.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "EADDRINUSE" ? "address already in use" : error.message;
      reject(new DedupError("INPUT_INVALID", `cannot listen for peers on ${config.peerListen.host ?? ""}:${config.peerListen.port}: ${why}`));
    });
    peerServer.listen(config.peerListen.port, config.peerListen.host, () => resolve());
  });
  const replication = new Replication(peers, changes, local, log);
  const prober = config.probeIntervalSeconds > 0 ? new LinkProber({ lanes, links, intervalSeconds: config.probeIntervalSeconds, log }) : undefined;
  prober?.start();
  return {
    store: new ReplicatedStore(local, changes, remote),
    peerServer,
    close: async () => {
      await prober?.stop();
      await replication.stop();
      const closed = new Promise((resolve) => peerServer.close(resolve));
      peerServer.closeAllConnections();
      await closed;
      await remote.settled();
      await changes.log.compacted();
      for (const peer of peers) peer.close();
    },
  };
}
