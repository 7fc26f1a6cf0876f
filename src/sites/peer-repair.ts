import type { ChunkSource } from "../layers/repair.js";
import type { PeerAccess, PeerEntry } from "../config/site-config.js";
import { PeerClient } from "./wire/peer-client.js";

/** Each peer site as a source for `verify --repair`: its chunks, by id (proven by their ids, not trusted); close when done. */
export function peerRepairSources(peers: readonly PeerEntry[], access: PeerAccess): { sources: ChunkSource[]; close(): void } {
  const clients = peers.map((peer) => new PeerClient(peer, access));
  return {
    sources: clients.map((client) => ({ name: `site ${client.name}`, chunks: (ids) => client.chunks(ids) })),
    close: () => clients.forEach((client) => client.close()),
  };
}
