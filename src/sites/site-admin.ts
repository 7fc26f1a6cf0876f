import { DedupError } from "../errors.js";
import { isSha256Digest, sha256Digest } from "../layers/digest.js";
import { readBlob } from "../layers/reconstruct.js";
import { keys } from "../registry/keys.js";
import { parseManifest } from "../registry/manifest-format.js";
import { isValidRepositoryName, isValidTag } from "../registry/names.js";
import { decodeChunk } from "../store/codec.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import type { ChunkLocations } from "./chunk-locations.js";
import type { LinkEstimate, LinkEstimates } from "./link-estimates.js";
import type { PeerClient } from "./peer-client.js";
import type { RemoteBlobs } from "./remote-blobs.js";
import { siteKeys } from "./site-keys.js";

/**
 * What `docker-dedup sites` and `docker-dedup replicate` ask a running site, on its peer API
 * (peer-protocol.ts: `GET status`, `POST replicate`), so behind the same shared secret.
 *
 * `status` is asked of the running site, not read from a stopped site's store: only the running
 * site can say whether its peers answer now and how far behind their logs it is, and it is the
 * one process that may open an embedded store. What each peer holds is asked of the peer (one
 * batched `has` per peer), or, for a peer that does not answer, what this site last recorded.
 *
 * `replicate` brings an image's manifests and blobs into this site through the same path a pull
 * at this site takes (remote-blobs.ts, blob-fetch.ts): only the chunks it lacks, planned over
 * the peers that hold them. Blobs are fetched one after the other, so each plan has the links
 * to itself and the link estimates learned stay true.
 */

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

export interface SiteAdminContext {
  site: string;
  schedule: string;
  /** This site's own store. */
  local: Store;
  head: () => number;
  peers: readonly PeerClient[];
  locations: ChunkLocations;
  links: LinkEstimates;
  remote: RemoteBlobs;
}

/** Tags listed in one status at most. */
const MAX_IMAGES = 500;
/** A peer that has not answered `info` by then is shown unreachable. */
const INFO_DEADLINE_MS = 3000;
/** A progress line at least this often, so that nobody on the way takes a long fetch for a dead connection. */
const PROGRESS_INTERVAL_MS = 250;

interface Blob {
  digest: string;
  size: number;
  recipe: Recipe | undefined;
}

export class SiteAdmin {
  readonly #ctx: SiteAdminContext;

  constructor(ctx: SiteAdminContext) {
    this.#ctx = ctx;
  }

  async status(only?: string): Promise<SiteStatus> {
    const { site, local, peers } = this.#ctx;
    const peerStatus = await Promise.all(peers.map((peer) => this.#peerStatus(peer)));
    const tags: { image: string; digest: string }[] = [];
    let leftOut = 0;
    for await (const [key, value] of local.scanMeta("registry/tag/")) {
      const nameAndTag = key.slice("registry/tag/".length);
      const colon = nameAndTag.indexOf(":");
      const image = { image: nameAndTag, digest: value.toString("utf8") };
      if (only !== undefined && only !== image.image && only !== `${nameAndTag.slice(0, colon)}@${image.digest}`) continue;
      if (tags.length < MAX_IMAGES) tags.push(image);
      else leftOut++;
    }
    // Each blob once, however many images share it: its recipe, then who holds how much of it.
    const blobs = new Map<string, Blob>();
    const images: (ImageStatus & { members: string[] })[] = [];
    for (const { image, digest } of tags) {
      const members = new Map<string, number>();
      let error: string | undefined;
      try {
        await this.#walk(digest, members, blobs);
      } catch (e) {
        error = (e as Error).message;
      }
      images.push({ image, digest, bytes: 0, blobs: members.size, held: {}, members: [...members.keys()], ...(error === undefined ? {} : { error }) });
    }
    for (const blob of blobs.values()) if (blob.recipe === undefined) blob.recipe = await this.#recipeFromPeers(blob.digest);

    const heldBytes = new Map<string, Map<string, number>>(); // site -> digest -> bytes held
    heldBytes.set(site, await this.#heldLocally([...blobs.values()]));
    const sources = new Map<string, "live" | "recorded">([[site, "live"]]);
    await Promise.all(
      peers.map(async (peer, i) => {
        const live = peerStatus[i]!.reachable;
        sources.set(peer.name, live ? "live" : "recorded");
        heldBytes.set(peer.name, await this.#heldByPeer(peer, [...blobs.values()], live));
      }),
    );
    for (const image of images) {
      image.bytes = image.members.reduce((sum, digest) => sum + blobs.get(digest)!.size, 0);
      for (const [name, held] of heldBytes) {
        let bytes = 0;
        let whole = 0;
        for (const digest of image.members) {
          const b = held.get(digest) ?? 0;
          bytes += b;
          if (b === blobs.get(digest)!.size) whole++;
        }
        image.held[name] = { bytes, blobs: whole, source: sources.get(name)! };
      }
    }
    return {
      site,
      version: 1,
      head: this.#ctx.head(),
      schedule: this.#ctx.schedule,
      peers: peerStatus,
      images: images.map(({ members: _, ...image }) => image),
      ...(leftOut > 0 ? { imagesLeftOut: leftOut } : {}),
    };
  }

  /** Checks a replicate request and finds where it goes: this site (undefined) or the peer to pass it on to. */
  route(request: ReplicateRequest): PeerClient | undefined {
    if (typeof request.repository !== "string" || !isValidRepositoryName(request.repository)) throw new DedupError("INPUT_INVALID", `replicate: bad repository name ${JSON.stringify(request.repository)}`);
    if (typeof request.reference !== "string" || !(isValidTag(request.reference) || isSha256Digest(request.reference))) {
      throw new DedupError("INPUT_INVALID", `replicate: bad reference ${JSON.stringify(request.reference)}: a tag or a sha256 digest`);
    }
    if (request.to === undefined || request.to === this.#ctx.site) return undefined;
    const peer = this.#ctx.peers.find((p) => p.name === request.to);
    if (peer === undefined) throw new DedupError("INPUT_INVALID", `replicate: site ${this.#ctx.site} knows no site ${JSON.stringify(request.to)} (its peers: ${this.#ctx.peers.map((p) => p.name).join(", ") || "none"})`);
    return peer;
  }

  /** The digest a tag names here, if this site knows the tag. */
  async resolve(request: ReplicateRequest): Promise<string | undefined> {
    if (isSha256Digest(request.reference)) return request.reference;
    return (await this.#ctx.local.getMeta(keys.tag(request.repository, request.reference)))?.toString("utf8");
  }

  /** Brings the image into this site; `emit` gets the plan, progress lines, and the end. Throws on failure. */
  async replicate(request: ReplicateRequest, emit: (event: ReplicateEvent) => void): Promise<void> {
    const started = Date.now();
    const { site, local, remote } = this.#ctx;
    const digest = (await this.resolve(request)) ?? request.digest;
    const image = `${request.repository}${isSha256Digest(request.reference) ? "@" : ":"}${request.reference}`;
    if (digest === undefined || !isSha256Digest(digest)) throw new DedupError("BLOB_UNKNOWN", `site ${site} does not know ${image} (not pushed, or not replicated here yet)`);
    let done = 0;
    let total = 0;
    let fetched = 0;
    let current: { size: number; fetch: { missingBytes: number; receivedBytes: number } } | undefined;
    const progress = () => {
      const inBlob = current === undefined ? 0 : Math.min(current.size, Math.max(0, current.size - current.fetch.missingBytes + current.fetch.receivedBytes));
      emit({ type: "progress", done: done + inBlob, total, fetched: fetched + (current?.fetch.receivedBytes ?? 0) });
    };
    const timer = setInterval(progress, PROGRESS_INTERVAL_MS);
    let lacked = 0;
    /** Makes the blob whole here, fetching what this site lacks; resolves with its recipe. */
    const ensure = async (blobDigest: string, size: number): Promise<Recipe> => {
      const held = await local.getRecipe(blobDigest);
      if (held !== undefined) return held;
      const fetch = await remote.fetch(blobDigest);
      if (fetch === undefined) throw new DedupError("BLOB_UNKNOWN", `no reachable site holds ${blobDigest} of ${image}`);
      current = { size, fetch };
      try {
        await fetch.done;
      } finally {
        lacked += fetch.missingBytes;
        fetched += fetch.receivedBytes;
        current = undefined;
      }
      return (await local.getRecipe(blobDigest)) ?? fetch.recipe;
    };
    try {
      // Manifests first (an index's children too), each made whole here and read from here.
      const members = new Map<string, number>();
      const manifests: string[] = [];
      const queue = [digest];
      while (queue.length > 0) {
        const manifest = queue.shift()!;
        if (members.has(manifest)) continue;
        const recipe = await ensure(manifest, 0);
        members.set(manifest, recipe.size);
        manifests.push(manifest);
        const parsed = parseManifest(await readAll(local, recipe), undefined);
        for (const child of parsed.manifests) queue.push(child.digest);
        for (const blob of parsed.blobs) if (!members.has(blob.digest)) members.set(blob.digest, blob.size);
      }
      total = [...members.values()].reduce((sum, size) => sum + size, 0);
      done = manifests.reduce((sum, m) => sum + members.get(m)!, 0);
      emit({ type: "plan", site, digest, blobs: members.size, bytes: total });
      for (const [blob, size] of members) {
        if (manifests.includes(blob)) continue;
        await ensure(blob, size);
        done += size;
        progress();
      }
      emit({ type: "done", site, digest, blobs: members.size, bytes: total, lacked, fetched, seconds: (Date.now() - started) / 1000 });
    } finally {
      clearInterval(timer);
    }
  }

  async #peerStatus(peer: PeerClient): Promise<PeerStatus> {
    const position = Number((await this.#ctx.local.getMeta(siteKeys.peerPosition(peer.name)))?.toString("utf8") ?? 0);
    const status: PeerStatus = { name: peer.name, url: peer.url, reachable: false, position, link: this.#ctx.links.describe(peer.name) };
    try {
      const info = await withDeadline(peer.info(), INFO_DEADLINE_MS, `no answer in ${INFO_DEADLINE_MS / 1000} s`);
      status.reachable = true;
      if (typeof info.head === "number") {
        status.head = info.head;
        status.lag = Math.max(0, info.head - position);
      }
    } catch (error) {
      status.error = (error as Error).message;
    }
    return status;
  }

  /**
   * Adds the manifest and what it refers to (an index's children, recursively) to `members`
   * and `blobs`. A status fetches nothing into this site: a manifest it lacks is read from
   * peers' chunks and verified, but not stored.
   */
  async #walk(digest: string, members: Map<string, number>, blobs: Map<string, Blob>): Promise<void> {
    if (members.has(digest)) return;
    const recipe = (await this.#ctx.local.getRecipe(digest)) ?? (await this.#recipeFromPeers(digest));
    if (recipe === undefined) throw new DedupError("BLOB_UNKNOWN", `no reachable site holds manifest ${digest}`);
    members.set(digest, recipe.size);
    blobs.set(digest, { digest, size: recipe.size, recipe });
    const parsed = parseManifest(await this.#readManifest(recipe), undefined);
    for (const blob of parsed.blobs) {
      members.set(blob.digest, blob.size);
      if (!blobs.has(blob.digest)) blobs.set(blob.digest, { digest: blob.digest, size: blob.size, recipe: await this.#ctx.local.getRecipe(blob.digest) });
    }
    for (const child of parsed.manifests) await this.#walk(child.digest, members, blobs);
  }

  /** A manifest's bytes: from this site's chunks, the rest asked of peers (a manifest is a few chunks). */
  async #readManifest(recipe: Recipe): Promise<Buffer> {
    const { local, peers } = this.#ctx;
    const chunks = await local.getChunks(recipe.ids);
    for (const peer of peers) {
      const missing = recipe.ids.flatMap((id, i) => (chunks[i] === undefined ? [{ id, i }] : []));
      if (missing.length === 0) break;
      try {
        let k = 0;
        for await (const stored of peer.chunks(missing.map((m) => m.id))) {
          const at = missing[k++]!.i;
          if (stored !== undefined) chunks[at] = stored;
        }
      } catch {
        // the next peer, if any
      }
    }
    if (chunks.some((c) => c === undefined)) throw new DedupError("CHUNK_MISSING", `no reachable site holds every chunk of manifest ${recipe.digest}`);
    const bytes = Buffer.concat(chunks.map((c) => decodeChunk(c!)));
    if (sha256Digest(bytes) !== recipe.digest) throw new DedupError("DIGEST_MISMATCH", `manifest ${recipe.digest} read back with another digest`);
    return bytes;
  }

  async #recipeFromPeers(digest: string): Promise<Recipe | undefined> {
    const { peers, locations } = this.#ctx;
    const holders = await locations.holdersOf(digest, peers.map((p) => p.name));
    const order = [...peers].sort((a, b) => Number(holders.includes(b.name)) - Number(holders.includes(a.name)));
    for (const peer of order) {
      try {
        const recipe = await peer.recipe(digest);
        if (recipe !== undefined) return recipe;
      } catch {
        // the next peer
      }
    }
    return undefined;
  }

  /** Bytes of each blob whose chunks this site holds. */
  async #heldLocally(blobs: Blob[]): Promise<Map<string, number>> {
    const held = new Map<string, number>();
    for (const blob of blobs) {
      if (blob.recipe === undefined) held.set(blob.digest, 0);
      else if ((await this.#ctx.local.getRecipe(blob.digest)) !== undefined) held.set(blob.digest, blob.size);
      else held.set(blob.digest, bytesHeld(blob.recipe, await this.#ctx.local.hasChunks(blob.recipe.ids)));
    }
    return held;
  }

  /** Bytes of each blob whose chunks the peer holds: whole if it announced the blob, else one batched `has` (or its last recorded answer). */
  async #heldByPeer(peer: PeerClient, blobs: Blob[], live: boolean): Promise<Map<string, number>> {
    const { locations } = this.#ctx;
    const held = new Map<string, number>();
    const ask: Blob[] = [];
    for (const blob of blobs) {
      if ((await locations.holdersOf(blob.digest, [peer.name])).length > 0) held.set(blob.digest, blob.size);
      else if (blob.recipe === undefined) held.set(blob.digest, 0);
      else if (!live) {
        const recorded = await locations.recordedHas(peer.name, blob.digest, uniqueIds(blob.recipe).length);
        held.set(blob.digest, recorded === undefined ? 0 : bytesHeld(blob.recipe, spreadUnique(blob.recipe, recorded)));
      } else ask.push(blob);
    }
    if (ask.length === 0) return held;
    const ids = ask.flatMap((blob) => blob.recipe!.ids);
    let answers: boolean[] | undefined;
    try {
      answers = await peer.has(ids);
    } catch {
      answers = undefined;
    }
    let at = 0;
    for (const blob of ask) {
      const count = blob.recipe!.ids.length;
      held.set(blob.digest, answers === undefined ? 0 : bytesHeld(blob.recipe!, answers.slice(at, at + count)));
      at += count;
    }
    return held;
  }
}

/** Bytes of the blob at positions whose chunk is held (`held` in recipe order, one per position). */
function bytesHeld(recipe: Recipe, held: readonly boolean[]): number {
  let bytes = 0;
  recipe.lengths.forEach((length, i) => {
    if (held[i]) bytes += length;
  });
  return bytes;
}

function uniqueIds(recipe: Recipe): string[] {
  return [...new Set(recipe.ids.map((id) => id.toString("latin1")))];
}

/** A recorded `has` bitmap (one bit per distinct chunk, in order of first use) spread over the recipe's positions. */
function spreadUnique(recipe: Recipe, unique: readonly boolean[]): boolean[] {
  const order = new Map(uniqueIds(recipe).map((key, u) => [key, u]));
  return recipe.ids.map((id) => unique[order.get(id.toString("latin1"))!] ?? false);
}

async function readAll(store: Store, recipe: Recipe): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of readBlob(store, recipe)) parts.push(part);
  return Buffer.concat(parts);
}

async function withDeadline<T>(work: Promise<T>, ms: number, why: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
