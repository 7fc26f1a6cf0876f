import { DedupError, isDedupError } from "../../errors.js";
import type { GzipForm } from "../../layers/gzip/form.js";
import type { ChunkId } from "../../store/chunk-id.js";
import type { Recipe } from "../../store/recipe.js";
import { FormFetch } from "./form-fetch.js";
import { PeerFetch, type PeerFetchContext } from "./peer-fetch.js";

export interface RemoteBlobsContext extends PeerFetchContext {
  /** Stores a gzip layer's form once its content is here (re-created and checked first), and announces it. */
  adopt(form: GzipForm): Promise<void>;
}

/** A blob being fetched from peers: as its chunks (PeerFetch), or a gzip layer as its content's chunks and its form (FormFetch). */
export type RemoteFetch = PeerFetch | FormFetch;

/**
 * Blobs this site lacks but peers hold. Asking for one (`recipe`, `fetch`) fetches its
 * recipe from a holder, or, from a holder that stores it as a gzip layer's content, its form, and
 * starts fetching its missing chunks (the content's) at once, in the background: the pull that
 * asked streams the blob as the chunks arrive (`arrival`), and the fetch runs to the end even if
 * that client leaves, so the next pull finds the blob here. Concurrent pulls of one blob share
 * one fetch, and a gzip layer's content is fetched by the same fetch as a pull of the content.
 */
export class RemoteBlobs {
  readonly #ctx: RemoteBlobsContext;
  readonly #fetches = new Map<string, Promise<RemoteFetch | undefined>>();
  readonly #running = new Set<PeerFetch>();
  /** The errors `fetch` rejects with when peers offered a blob only in forms this site refused. */
  readonly #refusals = new WeakSet<Error>();

  constructor(ctx: RemoteBlobsContext) {
    this.#ctx = ctx;
  }

  /** The recipe of a blob some peer holds as chunks, its fetch under way; undefined if no reachable peer does. */
  async recipe(digest: string): Promise<Recipe | undefined> {
    const fetch = await this.#quietly(digest);
    return fetch instanceof PeerFetch ? fetch.recipe : undefined;
  }

  /**
   * The form of a gzip layer being fetched, as the peer sent it; undefined if no fetch of it is
   * under way. Starts nothing: asking for the recipe (`recipe`, `fetch`) looks for the blob in
   * either form, and a reader asks for a gzip layer's form only after its recipe.
   */
  async formUnderWay(digest: string): Promise<GzipForm | undefined> {
    const pending = this.#fetches.get(digest);
    if (pending === undefined) return undefined;
    let fetch: RemoteFetch | undefined;
    try {
      fetch = await pending;
    } catch (error) {
      if (this.#refusals.has(error as Error)) return undefined;
      throw error;
    }
    return fetch instanceof FormFetch ? fetch.form : undefined;
  }

  /**
   * The fetch of a blob some peer holds (started now, or the one under way); undefined if no
   * reachable peer holds it. Rejects, saying why, when peers offered it but in a form this site
   * refused (a recipe or gzip form that does not decode or check).
   */
  fetch(digest: string): Promise<RemoteFetch | undefined> {
    let fetch = this.#fetches.get(digest);
    if (fetch === undefined) {
      fetch = this.#start(digest);
      this.#fetches.set(digest, fetch);
      void fetch.then(
        (started) => (started === undefined ? this.#fetches.delete(digest) : started.done.catch(() => undefined).then(() => this.#fetches.delete(digest))),
        () => this.#fetches.delete(digest),
      );
    }
    return fetch;
  }

  /** A chunk that a running fetch brings: resolves with its stored form once it arrived and verified. */
  arrival(id: ChunkId): Promise<Buffer> | undefined {
    for (const fetch of this.#running) {
      const arrival = fetch.arrival(id);
      if (arrival !== undefined) return arrival;
    }
    return undefined;
  }

  /** Resolves when every fetch under way has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#fetches.values()].map(async (fetch) => (await fetch)?.done));
  }

  /** `fetch`, for the store's readers: a blob no peer offered acceptably is one this site cannot get (the reason is logged). */
  async #quietly(digest: string): Promise<RemoteFetch | undefined> {
    try {
      return await this.fetch(digest);
    } catch (error) {
      if (this.#refusals.has(error as Error)) return undefined;
      throw error;
    }
  }

  async #start(digest: string): Promise<RemoteFetch | undefined> {
    const { lanes, locations } = this.#ctx;
    const peers = lanes.map((lane) => lane.peer);
    const names = peers.map((peer) => peer.name);
    const holders = await locations.holdersOf(digest, names);
    // Known holders first; then the others, in case their announcement has not arrived yet.
    const order = [...holders, ...names.filter((name) => !holders.includes(name))];
    const refusals: string[] = [];
    for (const name of order) {
      const peer = peers.find((p) => p.name === name)!;
      let recipe: Recipe | undefined;
      let form: GzipForm | undefined;
      try {
        recipe = await peer.recipe(digest);
        // Not as chunks: perhaps as a gzip layer's content.
        if (recipe === undefined) form = await peer.form(digest);
      } catch (error) {
        this.#ctx.log(`asking peer ${name} for ${digest}: ${(error as Error).message}`);
        if (!isDedupError(error, "STORE_UNAVAILABLE")) refusals.push((error as Error).message);
        continue;
      }
      if (recipe === undefined && form === undefined) continue;
      await locations.recordHolds(name, digest);
      if (form !== undefined) return new FormFetch({ store: this.#ctx.store, fetch: (content) => this.fetch(content), adopt: this.#ctx.adopt, log: this.#ctx.log }, form, name);
      const fetch = new PeerFetch(this.#ctx, recipe!);
      await fetch.prepare();
      this.#running.add(fetch);
      void fetch.done.catch(() => undefined).then(() => this.#running.delete(fetch));
      fetch.start(holders.includes(name) ? holders : [...holders, name]);
      return fetch;
    }
    if (refusals.length > 0) {
      const refused = new DedupError("STORE_INVALID", `no peer offered ${digest} in a form this site accepts: ${refusals.join("; ")}`, { digest });
      this.#refusals.add(refused);
      throw refused;
    }
    return undefined;
  }
}
