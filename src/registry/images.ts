import type { BlobService } from "../layers/blob-service.js";
import { parseManifest } from "./manifest-format.js";
import type { RegistryMetadata } from "./metadata.js";

/** A tag: which manifest a repository's tag names. */
export interface TagEntry {
  repository: string;
  tag: string;
  digest: string;
}

/** A blob an image is made of, as its manifest describes it. */
export interface ImageBlob {
  digest: string;
  size: number;
  mediaType: string;
}

/**
 * A tagged image of one repository: a manifest (an index with its children) and the configs and
 * layers they name, each once. Several tags of one repository naming the same manifest are one image.
 */
export interface TaggedImage {
  repository: string;
  digest: string;
  tags: string[];
  mediaType: string;
  /** The manifests' bytes, their configs' and their layers'. */
  size: number;
  manifests: string[];
  /** Configs and layers, in the order the manifests list them (an index: its children's, in turn). */
  blobs: ImageBlob[];
  /** Why the image could not be read whole (a manifest missing or unreadable); what was read is kept. */
  error?: string;
}

/** Every tag of the registry, up to `max`; how many more there were. */
export async function listTags(meta: RegistryMetadata, max: number): Promise<{ tags: TagEntry[]; leftOut: number }> {
  const tags: TagEntry[] = [];
  let leftOut = 0;
  for await (const tag of meta.scanTags()) {
    if (tags.length < max) tags.push(tag);
    else leftOut++;
  }
  return { tags, leftOut };
}

/** The images the tags name, read from their manifests (an index: its children too, as its repository links them). */
export async function readImages(tags: readonly TagEntry[], meta: RegistryMetadata, blobs: BlobService): Promise<TaggedImage[]> {
  const images = new Map<string, TaggedImage>();
  for (const { repository, tag, digest } of tags) {
    const key = `${repository}@${digest}`;
    const known = images.get(key);
    if (known !== undefined) {
      known.tags.push(tag);
      continue;
    }
    const image: TaggedImage = { repository, digest, tags: [tag], mediaType: "", size: 0, manifests: [], blobs: [] };
    images.set(key, image);
    try {
      await readImage(image, meta, blobs);
    } catch (error) {
      image.error = (error as Error).message;
    }
  }
  return [...images.values()];
}

async function readImage(image: TaggedImage, meta: RegistryMetadata, blobs: BlobService): Promise<void> {
  const seen = new Set<string>();
  const queue = [image.digest];
  while (queue.length > 0) {
    const digest = queue.shift()!;
    if (seen.has(digest)) continue;
    seen.add(digest);
    const record = await meta.getManifest(image.repository, digest);
    const bytes = record === undefined ? undefined : await blobs.readAll(digest);
    if (record === undefined || bytes === undefined) throw new Error(`manifest ${digest} of ${image.repository} is not stored`);
    const parsed = parseManifest(bytes, record.mediaType);
    if (image.manifests.length === 0) image.mediaType = parsed.mediaType;
    image.manifests.push(digest);
    image.size += bytes.length;
    for (const child of parsed.manifests) queue.push(child.digest);
    for (const blob of parsed.blobs) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      image.blobs.push({ digest: blob.digest, size: blob.size, mediaType: blob.mediaType });
      image.size += blob.size;
    }
  }
}
