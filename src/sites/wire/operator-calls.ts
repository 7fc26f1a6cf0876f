import type { PeerClient } from "./peer-client.js";

/**
 * The two calls an operator's command makes of a running site on its peer API (peer-protocol.ts:
 * `GET status` for `docker-dedup sites`, `POST replicate` for `docker-dedup replicate`): what they
 * carry, and what the peer API needs of the site to answer them (sites/status.ts,
 * sites/replicate.ts).
 */

/** A peer's link estimate as `status` shows it (sites/fetch/link-estimates.ts). */
export interface LinkEstimate {
  /** What plans use now, bytes per second. */
  bytesPerSecond: number;
  /** The configured first estimate, if any. */
  configured: number | undefined;
  /** Where `bytesPerSecond` comes from. */
  source: "learned" | "configured" | "default";
  /** When a transfer last updated it (ISO time), if ever. */
  updated: string | undefined;
}

export interface PeerStatus {
  name: string;
  url: string;
  reachable: boolean;
  /** Why the peer did not answer. */
  error?: string;
  /** The peer's log head, if it answered. */
  head?: number;
  /** How far this site has read the peer's log. */
  position: number;
  /** Entries of the peer's log this site has not read yet (head - position), if it answered. */
  lag?: number;
  link: LinkEstimate;
}

export interface SiteHolding {
  /** Bytes of the image (manifests and blobs, each blob once) whose chunks the site holds. */
  bytes: number;
  /** Blobs (manifests included) the site holds whole. */
  blobs: number;
  /** "live": asked now; "recorded": the peer did not answer, this is what this site last learned. */
  source: "live" | "recorded";
}

export interface ImageStatus {
  /** repository:tag */
  image: string;
  digest: string;
  /** Bytes of the image: its manifests and distinct blobs. */
  bytes: number;
  blobs: number;
  /** Per site (this one and each peer). */
  held: Record<string, SiteHolding>;
  /** Set when the image's manifests could not be read here; the figures are then partial. */
  error?: string;
}

export interface SiteStatus {
  site: string;
  version: number;
  head: number;
  schedule: string;
  peers: PeerStatus[];
  images: ImageStatus[];
  /** Set when there were more tags than a status lists. */
  imagesLeftOut?: number;
}

/** What `POST replicate` streams back, one JSON object a line. */
export type ReplicateEvent =
  | { type: "plan"; site: string; digest: string; blobs: number; bytes: number }
  | { type: "progress"; done: number; total: number; fetched: number }
  | { type: "done"; site: string; digest: string; blobs: number; bytes: number; lacked: number; fetched: number; seconds: number }
  | { type: "error"; message: string };

export interface ReplicateRequest {
  repository: string;
  /** A tag or a digest. */
  reference: string;
  /** The site to bring the image to; this one if absent. */
  to?: string;
  /** The digest the asking site resolved the tag to, used if the destination does not know the tag yet. */
  digest?: string;
}

/** Answers `status`. */
export interface StatusCall {
  /** `only`: one image, `repository:tag` or `repository@digest`. */
  status(only?: string): Promise<SiteStatus>;
}

/** Answers `replicate`. */
export interface ReplicateCall {
  /** Checks a request and finds where it goes: this site (undefined) or the peer to pass it on to. */
  route(request: ReplicateRequest): PeerClient | undefined;
  /** The digest a tag names here, if this site knows the tag. */
  resolve(request: ReplicateRequest): Promise<string | undefined>;
  /** Brings the image into this site; `emit` gets the plan, progress lines, and the end. Throws on failure. */
  replicate(request: ReplicateRequest, emit: (event: ReplicateEvent) => void): Promise<void>;
}
