import type { Server } from "node:http";
import type { SiteConfig } from "../config/site-config.js";
import { DedupError } from "../errors.js";
import { BlobService, type BlobParts } from "../layers/blob-service.js";
import type { Store } from "../store/types.js";
import { LinkEstimates } from "./fetch/link-estimates.js";
import { LinkProber } from "./fetch/link-probe.js";
import { PeerLane } from "./fetch/peer-lane.js";
import { RemoteBlobs } from "./fetch/remote-blobs.js";
import { LogFollower } from "./log/follow.js";
import { SiteChanges } from "./log/site-changes.js";
import { ReplicateCommand, type RunningReplication } from "./replicate.js";
import { SiteStore } from "./site-store.js";
import { StatusReport } from "./status.js";
import { createPeerApiServer } from "./wire/peer-api.js";
import { PeerClient } from "./wire/peer-client.js";

export interface Site {
  /** The store the registry runs on (site-store.ts). */
  readonly store: Store;
  /** The peer API, listening. */
  readonly peerServer: Server;
  /** Each peer as this site sees it now (serve's readiness and metrics): a read-only view, cheap to take. */
  peers(): PeerView[];
  /**
   * The sites, this one included, known to hold the whole blob: this site's own store, and what
   * the peers announced (log/chunk-locations.ts). Cheap: no peer is asked.
   */
  holdersOf(digest: string): Promise<string[]>;
  /** The replications this site is running now, as far as each got. */
  replications(): RunningReplication[];
  /** Stops following peers and answering them, and waits for fetches under way; the store stays open. */
  close(): Promise<void>;
}

export interface PeerView {
  name: string;
  /** The link's estimated rate from that peer (fetch/link-estimates.ts). */
  bytesPerSecond: number;
  /** Chunk bytes fetched from it since this site started, as they travelled (stored form). */
  fetchedBytes: number;
  /** Whether it answered the last read of its change log; undefined until the first read ended. */
  answered: boolean | undefined;
}

/**
 * Makes the store a site: follows the peers' changes, answers them, fetches what it lacks from
 * them. `parts` are those of the blob service the registry reads through: blobs fetched from
 * peers fill its chunk cache as they arrive, for the pulls that wait on them.
 */
export async function startSite(local: Store, config: SiteConfig, log: (line: string) => void, parts: BlobParts): Promise<Site> {
  const localBlobs = new BlobService(local, parts, log);
  const changes = await SiteChanges.open(config.site, local, log);
  const peers = config.peers.map((peer) => new PeerClient(peer, config.access, config.peerListen.host));
  const links = await LinkEstimates.load(local, new Map(config.peers.map((peer) => [peer.name, peer.bytesPerSecond])));
  const lanes = peers.map((peer) => new PeerLane(peer, links));
  const remote = new RemoteBlobs({
    store: local,
    blobs: localBlobs,
    cache: parts.cache,
    codec: parts.codec,
    lanes,
    locations: changes.locations,
    links,
    policy: config.schedule,
    commit: async (recipe) => {
      await changes.commitRecipe(recipe);
      // A gzip layer the peer had not converted yet is converted here, as a push would be.
      await localBlobs.convertIfGzip(recipe.digest);
    },
    adopt: async (form) => {
      // Opening the content brings it back if a garbage collection doomed it since its commit (no form named it yet).
      await localBlobs.open(form.content);
      await localBlobs.adoptGzipForm(form);
      await changes.announceHolds(form.digest);
    },
    log,
  });
  const statusCall = new StatusReport({ site: config.site, schedule: config.schedule, local, blobs: localBlobs, head: () => changes.log.head, peers, locations: changes.locations, links });
  const replicateCall = new ReplicateCommand({ site: config.site, local, blobs: localBlobs, peers, remote });
  const peerServer = createPeerApiServer({ site: config.site, store: local, blobs: localBlobs, log: changes.log, access: config.access, logLine: log, statusCall, replicateCall });
  await new Promise<void>((resolve, reject) => {
    peerServer.once("error", (error: NodeJS.ErrnoException) => {
      const why = error.code === "EADDRINUSE" ? "address already in use" : error.message;
      reject(new DedupError("INPUT_INVALID", `cannot listen for peers on ${config.peerListen.host ?? ""}:${config.peerListen.port}: ${why}`));
    });
    peerServer.listen(config.peerListen.port, config.peerListen.host, () => resolve());
  });
  const follower = new LogFollower(peers, changes, local, log);
  const prober = config.probeIntervalSeconds > 0 ? new LinkProber({ lanes, links, intervalSeconds: config.probeIntervalSeconds, log }) : undefined;
  prober?.start();
  return {
    store: new SiteStore(local, changes, remote),
    peerServer,
    peers: () => lanes.map(({ peer, meter }) => ({ name: peer.name, bytesPerSecond: links.get(peer.name), fetchedBytes: meter.fetchedBytes, answered: follower.answered(peer.name) })),
    holdersOf: async (digest) => {
      const peersHolding = await changes.locations.holdersOf(digest, config.peers.map((peer) => peer.name));
      return (await localBlobs.has(digest)) ? [config.site, ...peersHolding] : peersHolding;
    },
    replications: () => replicateCall.running(),
    close: async () => {
      await prober?.stop();
      await follower.stop();
      const closed = new Promise((resolve) => peerServer.close(resolve));
      peerServer.closeAllConnections();
      await closed;
      await remote.settled();
      await changes.log.compacted();
      await localBlobs.close();
      for (const peer of peers) peer.close();
    },
  };
}
