import type { ImageAnswer } from "./overview.js";

/**
 * What the page shows of a site: handed in by serve (cli/serve.ts) from the running site, so that
 * nothing here starts or asks peers. Holdings are what this site knows cheaply: its own store and
 * the blobs its peers announced, never a `has` round trip (that is `docker-dedup sites`).
 */
export interface SitesView {
  name: string;
  peers(): { name: string; bytesPerSecond: number; fetchedBytes: number; answered: boolean | undefined }[];
  /** The sites, this one included, known to hold the whole blob. */
  holdersOf(digest: string): Promise<string[]>;
  replications(): { repository: string; image: string; site: string; done: number; total: number; fetched: number; startedAt: number }[];
}

export interface SitesAnswer {
  site: string;
  peers: ReturnType<SitesView["peers"]>;
  /** Per image of the images answer (same order): bytes of its configs and layers, and of those each site is known to hold whole. */
  holdings: { image: number; name: string; bytes: number; held: Record<string, number> }[];
  replications: ReturnType<SitesView["replications"]>;
}

/** The sites part of the page, for the images the caller may see (and replications of their repositories only). */
export async function sitesAnswer(view: SitesView, images: readonly ImageAnswer[], mayList: (repository: string) => boolean): Promise<SitesAnswer> {
  const holdings: SitesAnswer["holdings"] = [];
  for (const [i, image] of images.entries()) {
    const held: Record<string, number> = {};
    let bytes = 0;
    for (const blob of image.blobs) {
      bytes += blob.size;
      for (const site of await view.holdersOf(blob.digest)) held[site] = (held[site] ?? 0) + blob.size;
    }
    holdings.push({ image: i, name: `${image.repository}:${image.tags.join(",")}`, bytes, held });
  }
  return { site: view.name, peers: view.peers(), holdings, replications: view.replications().filter((r) => mayList(r.repository)) };
}
