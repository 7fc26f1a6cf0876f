import type { BlobService } from "../layers/blob-service.js";
import type { Sharing, SharingIndex } from "../layers/sharing.js";
import { listTags, readImages, type TaggedImage } from "../registry/images.js";
import type { RegistryMetadata } from "../registry/metadata.js";

/** Tags looked at, at most: the heatmap is images squared, and a page shows no more anyway. */
const MAX_TAGS = 300;
/** A computed overview is kept while the tags stay the same, and this long at most (blobs a site lacked may have arrived). */
const MAX_AGE_MS = 5 * 60_000;

/** The images, and which bytes they share, for every repository (filtered per caller by `visibleTo`). */
export interface ImagesOverview {
  images: TaggedImage[];
  sharing: Sharing;
  tagsLeftOut: number;
  /** When it was computed, ms since the epoch. */
  computedAt: number;
}

/** One image as the page's API answers it; `sharedWith` and `common` index the answer's own `images`. */
export interface ImageAnswer extends Omit<TaggedImage, "blobs"> {
  /** Plain bytes of the distinct chunks of its configs and layers: what it costs the store alone. */
  uniqueBytes: number;
  blobs: { digest: string; size: number; mediaType: string; uniqueBytes: number; sharedWith: { image: number; bytes: number }[] }[];
}

export interface ImagesAnswer {
  images: ImageAnswer[];
  /** common[i][j]: bytes of the distinct chunks images i and j both contain (the sharing heatmap). */
  common: number[][];
  tagsLeftOut: number;
  computedAt: number;
}

export interface OverviewSources {
  meta: RegistryMetadata;
  blobs: BlobService;
  sharing: SharingIndex;
  now: () => number;
}

/**
 * The image -> layers -> chunks walk behind the page, computed once for all callers and kept
 * until the tags change (listing them is cheap; the walk is O(chunks)): concurrent requests
 * share one computation.
 */
export class Overview {
  readonly #sources: OverviewSources;
  #cached: { tags: string; at: number; overview: Promise<ImagesOverview> } | undefined;

  constructor(sources: OverviewSources) {
    this.#sources = sources;
  }

  async get(): Promise<ImagesOverview> {
    const { meta, now } = this.#sources;
    const { tags, leftOut } = await listTags(meta, MAX_TAGS);
    const key = JSON.stringify(tags);
    const cached = this.#cached;
    if (cached !== undefined && cached.tags === key && now() - cached.at < MAX_AGE_MS) return cached.overview;
    const overview = (async () => {
      const images = await readImages(tags, meta, this.#sources.blobs);
      const sharing = await this.#sources.sharing.compute(images.map((image) => ({ blobs: image.blobs.map((blob) => blob.digest) })));
      return { images, sharing, tagsLeftOut: leftOut, computedAt: now() };
    })();
    const entry = { tags: key, at: now(), overview };
    this.#cached = entry;
    // A failed computation is not kept: the next request tries again.
    overview.catch(() => {
      if (this.#cached === entry) this.#cached = undefined;
    });
    return overview;
  }
}

/** The overview as a caller who may see only the repositories `mayList` allows sees it: nothing of the others. */
export function visibleTo(overview: ImagesOverview, mayList: (repository: string) => boolean): ImagesAnswer {
  const shown = overview.images.flatMap((image, i) => (mayList(image.repository) ? [i] : []));
  const position = new Map(shown.map((i, k) => [i, k]));
  const images = shown.map((i): ImageAnswer => {
    const image = overview.images[i]!;
    return {
      ...image,
      uniqueBytes: overview.sharing.common[i]![i]!,
      blobs: image.blobs.map((blob) => {
        const sharing = overview.sharing.blobs.get(blob.digest);
        const sharedWith = [...(sharing?.sharedWith ?? [])].flatMap(([g, bytes]) => (g !== i && position.has(g) ? [{ image: position.get(g)!, bytes }] : []));
        return { ...blob, uniqueBytes: sharing?.uniqueBytes ?? 0, sharedWith };
      }),
    };
  });
  const common = shown.map((i) => shown.map((j) => overview.sharing.common[i]![j]!));
  return { images, common, tagsLeftOut: overview.tagsLeftOut, computedAt: overview.computedAt };
}
