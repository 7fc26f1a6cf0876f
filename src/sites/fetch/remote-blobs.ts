import type { ChunkId } from "../../store/chunk-id.js";
import type { Recipe } from "../../store/recipe.js";
import { PeerFetch, type PeerFetchContext } from "./peer-fetch.js";

/**
 * Blobs this site lacks but peers hold. Asking for one (`recipe`) fetches its recipe from a
 * holder and starts fetching its missing chunks at once, in the background: the pull that
 * asked streams the blob as the chunks arrive (`arrival`), and the fetch runs to the end even
 * if that client leaves, so the next pull finds the blob here. Concurrent pulls of one blob
 * share one fetch.
 */
export class RemoteBlobs {
  readonly #ctx: PeerFetchContext;
  readonly #fetches = new Map<string, Promise<PeerFetch | undefined>>();
  readonly #running = new Set<PeerFetch>();

  constructor(ctx: PeerFetchContext) {
    this.#ctx = ctx;
  }

  /** The recipe of a blob some peer holds, its fetch under way; undefined if no reachable peer holds it. */
  async recipe(digest: string): Promise<Recipe | undefined> {
    return (await this.fetch(digest))?.recipe;
  }

  /** The fetch of a blob some peer holds (started now, or the one under way); undefined if no reachable peer holds it. */
  fetch(digest: string): Promise<PeerFetch | undefined> {
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

  async #start(digest: string): Promise<PeerFetch | undefined> {
    const { lanes, locations } = this.#ctx;
    const peers = lanes.map((lane) => lane.peer);
    const names = peers.map((peer) => peer.name);
    const holders = await locations.holdersOf(digest, names);
    // Known holders first; then the others, in case their announcement has not arrived yet.
    const order = [...holders, ...names.filter((name) => !holders.includes(name))];
    for (const name of order) {
      const peer = peers.find((p) => p.name === name)!;
      let recipe: Recipe | undefined;
      try {
        recipe = await peer.recipe(digest);
      } catch (error) {
        this.#ctx.log(`asking peer ${name} for ${digest}: ${(error as Error).message}`);
        continue;
      }
      if (recipe === undefined) continue;
      await locations.recordHolds(name, digest);
      const fetch = new PeerFetch(this.#ctx, recipe);
      await fetch.prepare();
      this.#running.add(fetch);
      void fetch.done.catch(() => undefined).then(() => this.#running.delete(fetch));
      fetch.start(holders.includes(name) ? holders : [...holders, name]);
      return fetch;
    }
    return undefined;
  }
}
