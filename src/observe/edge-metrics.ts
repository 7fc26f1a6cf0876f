import type { Registry } from "prom-client";
import type { Mirror } from "../registry/mirror.js";
import type { UploadSessions } from "../registry/upload-session.js";
import type { Site } from "../sites/site.js";
import { pulledCounters, pulledGauge, pulledGauges } from "./prometheus.js";

/** Upload work in progress in this process, right now. */
export function registerUploadMetrics(register: Registry, uploads: UploadSessions): void {
  pulledGauge(register, "upload_requests_in_progress", "Requests of this process storing data into upload sessions now", () => uploads.activeRequests);
}

/** Mirror mode: reads answered from the store (hit), fetched upstream (miss), or failing upstream (error). */
export function registerMirrorMetrics(register: Registry, mirror: Mirror): void {
  pulledCounters(register, "mirror_requests_total", "Reads of mirrored repositories by kind (blob, manifest) and result (hit: from the store; miss: fetched upstream; error: the upstream failed)", ["kind", "result"], () =>
    (["blob", "manifest"] as const).flatMap((kind) => {
      const o = mirror.outcomes[kind];
      return [
        [{ kind, result: "hit" }, o.hits],
        [{ kind, result: "miss" }, o.misses],
        [{ kind, result: "error" }, o.errors],
      ] as const;
    }),
  );
}

/** A site's peers: each link's estimated rate, the chunk bytes fetched over it, and whether the peer answers. */
export function registerSiteMetrics(register: Registry, site: Site): void {
  pulledGauges(register, "peer_link_bytes_per_second", "Estimated rate of the link from each peer (learned from transfers and probes)", ["peer"], () => site.peers().map((p) => [{ peer: p.name }, p.bytesPerSecond] as const));
  pulledCounters(register, "peer_fetched_bytes_total", "Chunk bytes fetched from each peer, as they travelled (stored form)", ["peer"], () => site.peers().map((p) => [{ peer: p.name }, p.fetchedBytes] as const));
  pulledGauges(register, "peer_up", "Whether each peer answered the last read of its change log (1) or not (0); absent until the first read ended", ["peer"], () =>
    site.peers().flatMap((p) => (p.answered === undefined ? [] : [[{ peer: p.name }, p.answered ? 1 : 0] as const])),
  );
}
