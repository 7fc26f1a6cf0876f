import { DedupError } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";
import { isSha256Digest } from "../layers/digest.js";
import { keys } from "../registry/keys.js";
import { isValidRepositoryName, isValidTag } from "../registry/names.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import { PeerFetch } from "./fetch/peer-fetch.js";
import type { RemoteBlobs, RemoteFetch } from "./fetch/remote-blobs.js";
import { walkImage } from "./image-members.js";
import type { ReplicateCall, ReplicateEvent, ReplicateRequest } from "./wire/operator-calls.js";
import type { PeerClient } from "./wire/peer-client.js";

export interface ReplicateContext {
  site: string;
  /** This site's own store, and its blobs. */
  local: Store;
  blobs: BlobService;
  peers: readonly PeerClient[];
  remote: RemoteBlobs;
}

/** A replication a site is running, as far as it got (bytes of the image made whole here, chunk bytes fetched). */
export interface RunningReplication {
  repository: string;
  /** REPOSITORY:TAG or REPOSITORY@DIGEST, as asked. */
  image: string;
  /** The site it brings the image to: the one running it. */
  site: string;
  done: number;
  total: number;
  fetched: number;
  /** When it started, ms since the epoch. */
  startedAt: number;
}

/** A progress line at least this often, so that nobody on the way takes a long fetch for a dead connection. */
const PROGRESS_INTERVAL_MS = 250;

/**
 * The `replicate` command (`docker-dedup replicate`, the peer API's `POST replicate`), as a site
 * runs it: it brings an image's manifests and blobs into this site through the same path a pull
 * at this site takes (fetch/remote-blobs.ts, fetch/peer-fetch.ts): only the chunks it lacks,
 * planned over the peers that hold them. Blobs are fetched one after the other, so each plan has
 * the links to itself and the link estimates learned stay true.
 */
export class ReplicateCommand implements ReplicateCall {
  readonly #ctx: ReplicateContext;
  readonly #running = new Set<RunningReplication>();

  constructor(ctx: ReplicateContext) {
    this.#ctx = ctx;
  }

  /** The replications under way here, each as of its last progress (serve's web page shows them live). */
  running(): RunningReplication[] {
    return [...this.#running].map((replication) => ({ ...replication }));
  }

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

  async resolve(request: ReplicateRequest): Promise<string | undefined> {
    if (isSha256Digest(request.reference)) return request.reference;
    return (await this.#ctx.local.getMeta(keys.tag(request.repository, request.reference)))?.toString("utf8");
  }

  async replicate(request: ReplicateRequest, emit: (event: ReplicateEvent) => void): Promise<void> {
    const started = Date.now();
    const { site, local, remote } = this.#ctx;
    const digest = (await this.resolve(request)) ?? request.digest;
    const image = `${request.repository}${isSha256Digest(request.reference) ? "@" : ":"}${request.reference}`;
    if (digest === undefined || !isSha256Digest(digest)) throw new DedupError("BLOB_UNKNOWN", `site ${site} does not know ${image} (not pushed, or its tag has not reached this site yet)`);
    let done = 0;
    let total = 0;
    let fetched = 0;
    let current: { size: number; fetch: RemoteFetch } | undefined;
    const running: RunningReplication = { repository: request.repository, image, site, done: 0, total: 0, fetched: 0, startedAt: started };
    this.#running.add(running);
    const progress = () => {
      Object.assign(running, { done: done + (current === undefined ? 0 : doneOf(current.size, current.fetch)), total, fetched: fetched + (current?.fetch.receivedBytes ?? 0) });
      emit({ type: "progress", done: running.done, total, fetched: running.fetched });
    };
    const timer = setInterval(progress, PROGRESS_INTERVAL_MS);
    let lacked = 0;
    /**
     * Makes the blob whole here, fetching what this site lacks (a gzip layer a peer holds as its
     * content: the content's missing chunks and the form); resolves with its recipe, if it has one.
     */
    const ensure = async (blobDigest: string, size: number): Promise<Recipe | undefined> => {
      const held = await local.getRecipe(blobDigest);
      if (held !== undefined) return held;
      if (await this.#ctx.blobs.has(blobDigest)) return undefined; // a gzip layer held as its content and form
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
      return (await local.getRecipe(blobDigest)) ?? (fetch instanceof PeerFetch ? fetch.recipe : undefined);
    };
    try {
      // Manifests first (an index's children too), each made whole here and read from here.
      const members = new Map<string, number>();
      const manifests = await walkImage(digest, members, {
        recipe: async (manifest) => {
          const recipe = await ensure(manifest, 0);
          if (recipe === undefined) throw new DedupError("STORE_INVALID", `manifest ${manifest} of ${image} is held as a gzip layer, not as a manifest`);
          return recipe;
        },
        bytes: async (recipe) => {
          const bytes = await this.#ctx.blobs.readAll(recipe.digest);
          if (bytes === undefined) throw new DedupError("BLOB_UNKNOWN", `manifest ${recipe.digest} of ${image} is not here after its fetch`);
          return bytes;
        },
      });
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
      this.#running.delete(running);
    }
  }
}

/**
 * Bytes of a blob of `size` bytes made whole so far by its fetch: the share of what its chunks
 * make (the blob, or a gzip layer's content) that was here already or has arrived.
 */
function doneOf(size: number, fetch: RemoteFetch): number {
  const of = fetch.chunkedBytes;
  const share = of > 0 ? (of - fetch.missingBytes + fetch.receivedBytes) / of : 1;
  return Math.min(size, Math.max(0, Math.round(size * share)));
}
