import { DedupError, isDedupError } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";
import type { GzipForm } from "../layers/gzip/form.js";
import { sha256Digest } from "../layers/digest.js";
import { decodeChunk, NO_COMPRESSION } from "../store/codec.js";
import { chunksApart } from "../store/runs.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import type { LinkEstimates } from "./fetch/link-estimates.js";
import { walkImage } from "./image-members.js";
import type { ChunkLocations } from "./log/chunk-locations.js";
import { siteKeys } from "./log/site-keys.js";
import { answerWithin } from "../deadline.js";
import type { ImageStatus, PeerStatus, SiteStatus, StatusCall } from "./wire/operator-calls.js";
import type { PeerClient } from "./wire/peer-client.js";

export interface StatusContext {
  site: string;
  schedule: string;
  /** This site's own store, and its blobs. */
  local: Store;
  blobs: BlobService;
  head: () => number;
  peers: readonly PeerClient[];
  locations: ChunkLocations;
  links: LinkEstimates;
}

/** Tags listed in one status at most. */
const MAX_IMAGES = 500;
/** A peer that has not answered `info` by then is shown unreachable. */
const INFO_DEADLINE_MS = 3000;

interface Blob {
  digest: string;
  size: number;
  /**
   * The recipe whose chunks make the blob: its own, or, for a gzip layer held as its content and
   * form (`asContent`), its content's. Undefined if no reachable site has either.
   */
  recipe: Recipe | undefined;
  asContent?: boolean;
}

/**
 * The status report (`docker-dedup sites`, the peer API's `GET status`): this site's peers,
 * whether they answer and how far behind their logs it is, the link estimates, and how much of
 * each tagged image every site holds.
 *
 * It is asked of the running site, not read from a stopped site's store: only the running site
 * can say whether its peers answer now and how far behind their logs it is, and it is the one
 * process that may open an embedded store. What each peer holds is asked of the peer (one
 * batched `has` per peer), or, for a peer that does not answer, what this site last recorded.
 */
export class StatusReport implements StatusCall {
  readonly #ctx: StatusContext;

  constructor(ctx: StatusContext) {
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
        await walkImage(digest, members, { recipe: (manifest) => this.#manifestRecipe(manifest, blobs), bytes: (recipe) => this.#readManifest(recipe) });
      } catch (e) {
        error = (e as Error).message;
      }
      for (const [member, size] of members) if (!blobs.has(member)) blobs.set(member, { digest: member, size, ...(await this.#chunksHere(member)) });
      images.push({ image, digest, bytes: 0, blobs: members.size, held: {}, members: [...members.keys()], ...(error === undefined ? {} : { error }) });
    }
    for (const blob of blobs.values()) if (blob.recipe === undefined) Object.assign(blob, await this.#chunksFromPeers(blob.digest));

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

  async #peerStatus(peer: PeerClient): Promise<PeerStatus> {
    const position = Number((await this.#ctx.local.getMeta(siteKeys.peerPosition(peer.name)))?.toString("utf8") ?? 0);
    const status: PeerStatus = { name: peer.name, url: peer.url, reachable: false, position, link: this.#ctx.links.describe(peer.name) };
    try {
      const info = await answerWithin(peer.info(), INFO_DEADLINE_MS);
      if (info === undefined) {
        status.error = `no answer in ${INFO_DEADLINE_MS / 1000} s`;
        return status;
      }
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
   * A manifest's recipe, here or at a peer, noted in `blobs`. A status fetches nothing into this
   * site: a manifest it lacks is read from peers' chunks and verified, but not stored.
   */
  async #manifestRecipe(digest: string, blobs: Map<string, Blob>): Promise<Recipe> {
    const recipe = (await this.#ctx.local.getRecipe(digest)) ?? (await this.#recipeFromPeers(digest));
    if (recipe === undefined) throw new DedupError("BLOB_UNKNOWN", `no reachable site holds manifest ${digest}`);
    blobs.set(digest, { digest, size: recipe.size, recipe });
    return recipe;
  }

  /** A manifest's bytes: from this site's chunks, the rest asked of peers (a manifest is a few chunks). */
  async #readManifest(recipe: Recipe): Promise<Buffer> {
    const { local, peers } = this.#ctx;
    const chunks = await chunksApart(local, recipe.ids, NO_COMPRESSION);
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

  /** The recipe whose chunks make a blob, as this site holds it: its own, or a gzip layer's content's. */
  async #chunksHere(digest: string): Promise<Pick<Blob, "recipe" | "asContent">> {
    const { local } = this.#ctx;
    const recipe = await local.getRecipe(digest);
    if (recipe !== undefined) return { recipe };
    const form = await this.#ctx.blobs.gzipForm(digest).catch((error: unknown) => {
      if (isDedupError(error, "STORE_INVALID")) return undefined; // a damaged form (`verify` says so): counted as not here
      throw error;
    });
    return form === undefined ? { recipe: undefined } : { recipe: await local.getRecipe(form.content), asContent: true };
  }

  /** The same, from the peers: a blob's recipe, or a gzip layer's form and then its content's recipe (here, or at a peer). */
  async #chunksFromPeers(digest: string): Promise<Pick<Blob, "recipe" | "asContent">> {
    const recipe = await this.#recipeFromPeers(digest);
    if (recipe !== undefined) return { recipe };
    const form = await this.#formFromPeers(digest);
    if (form === undefined) return { recipe: undefined };
    return { recipe: (await this.#ctx.local.getRecipe(form.content)) ?? (await this.#recipeFromPeers(form.content)), asContent: true };
  }

  async #formFromPeers(digest: string): Promise<GzipForm | undefined> {
    for (const peer of await this.#holdersFirst(digest)) {
      try {
        const form = await peer.form(digest);
        if (form !== undefined) return form;
      } catch {
        // the next peer
      }
    }
    return undefined;
  }

  async #holdersFirst(digest: string): Promise<PeerClient[]> {
    const { peers, locations } = this.#ctx;
    const holders = await locations.holdersOf(digest, peers.map((p) => p.name));
    return [...peers].sort((a, b) => Number(holders.includes(b.name)) - Number(holders.includes(a.name)));
  }

  async #recipeFromPeers(digest: string): Promise<Recipe | undefined> {
    for (const peer of await this.#holdersFirst(digest)) {
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
      else if (await this.#ctx.blobs.has(blob.digest)) held.set(blob.digest, blob.size);
      else held.set(blob.digest, scaled(blob, bytesHeld(blob.recipe, await this.#ctx.local.hasChunks(blob.recipe.ids))));
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
        const recorded = await locations.recordedHas(peer.name, blob.recipe.digest, uniqueIds(blob.recipe).length);
        held.set(blob.digest, recorded === undefined ? 0 : scaled(blob, bytesHeld(blob.recipe, spreadUnique(blob.recipe, recorded))));
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
      held.set(blob.digest, answers === undefined ? 0 : scaled(blob, bytesHeld(blob.recipe!, answers.slice(at, at + count))));
      at += count;
    }
    return held;
  }
}

/**
 * Bytes of a blob held, from bytes of its recipe's held: the same for a blob's own recipe; for a
 * gzip layer held as its content, the layer's share of that (the layer whole when the content is).
 */
function scaled(blob: Blob, recipeBytes: number): number {
  if (!blob.asContent || blob.recipe === undefined) return recipeBytes;
  if (recipeBytes >= blob.recipe.size) return blob.size;
  return Math.floor((recipeBytes / blob.recipe.size) * blob.size);
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
