import type { MetadataStore } from "../store/types.js";
import { keys } from "./keys.js";

/** Longer than any repository name (255) or tag (128): where `last` of a listing is cut for its scan. */
const MAX_LISTED = 256;

/** An OCI content descriptor, as the referrers API lists them. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** What a repository knows about one of its blobs, besides its bytes. */
export interface BlobLink {
  size: number;
  /**
   * When it was last linked (ms since the epoch): garbage collection keeps a link no manifest
   * names for the grace period after it (gc-roots.ts). Absent in records written before it was
   * kept, which count as linked at the epoch.
   */
  linked?: number;
}

/** What a repository knows about one of its manifests, besides its bytes. */
export interface ManifestRecord {
  mediaType: string;
  size: number;
  /** The digest of the manifest this one refers to (OCI 1.1 `subject`), if any. */
  subject?: string;
  /** When it was last pushed (ms since the epoch): the retention of untagged manifests goes by it. Absent in records written before it was kept. */
  pushed?: number;
}

/**
 * Repository links, tags, referrers and the catalog, on the store's metadata API.
 * The keys are built in keys.ts only. Writes go link-last: callers ingest bytes first, so a
 * link never points at a blob the store cannot rebuild.
 */
export class RegistryMetadata {
  readonly #meta: MetadataStore;

  constructor(meta: MetadataStore) {
    this.#meta = meta;
  }

  async ensureRepository(name: string): Promise<void> {
    const key = keys.repository(name);
    if ((await this.#meta.getMeta(key)) === undefined) await this.#putJson(key, { created: new Date().toISOString() });
  }

  /** Takes a repository out of the catalog once it links no blob and no manifest and has no tag. */
  async dropIfEmpty(name: string): Promise<void> {
    for (const prefix of [keys.blobLinkPrefixOf(name), keys.manifestLinkPrefixOf(name), keys.tagPrefix(name)]) {
      for await (const _ of this.#meta.scanMeta(prefix)) return;
    }
    await this.#meta.deleteMeta(keys.repository(name));
  }

  async repositoryExists(name: string): Promise<boolean> {
    return (await this.#meta.getMeta(keys.repository(name))) !== undefined;
  }

  /** Every repository in the catalog, in lexical order. */
  async *repositories(): AsyncIterable<string> {
    for await (const [key] of this.#meta.scanMeta(keys.repositoryPrefix)) yield key.slice(keys.repositoryPrefix.length);
  }

  /** Up to `limit` repository names after `last` (exclusive), in lexical order. */
  async listRepositories(last: string | undefined, limit: number): Promise<string[]> {
    return this.#listAfter(keys.repositoryPrefix, last, limit);
  }

  async linkBlob(name: string, digest: string, link: BlobLink): Promise<void> {
    await this.ensureRepository(name);
    await this.#putJson(keys.blobLink(name, digest), link);
  }

  /** The blob's link record if `name` may serve it. */
  async blobLink(name: string, digest: string): Promise<BlobLink | undefined> {
    return this.#getJson<BlobLink>(keys.blobLink(name, digest));
  }

  /** Every blob link of every repository, in repository then digest order. */
  async *scanBlobLinks(): AsyncGenerator<{ repository: string; digest: string; link: BlobLink }> {
    for await (const [repository, digest, link] of this.#scanLinks<BlobLink>(keys.blobLinkPrefix)) yield { repository, digest, link };
  }

  async unlinkBlob(name: string, digest: string): Promise<void> {
    await this.#meta.deleteMeta(keys.blobLink(name, digest));
  }

  async putManifest(name: string, digest: string, record: ManifestRecord): Promise<void> {
    await this.ensureRepository(name);
    await this.#putJson(keys.manifestLink(name, digest), record);
  }

  async getManifest(name: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.#getJson<ManifestRecord>(keys.manifestLink(name, digest));
  }

  /** Every manifest `name` links, with its record. */
  async *manifests(name: string): AsyncIterable<[digest: string, record: ManifestRecord]> {
    const prefix = keys.manifestLinkPrefixOf(name);
    for await (const [key, value] of this.#meta.scanMeta(prefix)) yield [key.slice(prefix.length), JSON.parse(value.toString("utf8")) as ManifestRecord];
  }

  /** Every manifest link of every repository, in repository then digest order. */
  async *scanManifests(): AsyncGenerator<{ repository: string; digest: string; record: ManifestRecord }> {
    for await (const [repository, digest, record] of this.#scanLinks<ManifestRecord>(keys.manifestLinkPrefix)) yield { repository, digest, record };
  }

  async deleteManifest(name: string, digest: string): Promise<void> {
    await this.#meta.deleteMeta(keys.manifestLink(name, digest));
  }

  async setTag(name: string, tag: string, digest: string): Promise<void> {
    await this.#meta.putMeta(keys.tag(name, tag), Buffer.from(digest));
  }

  async getTag(name: string, tag: string): Promise<string | undefined> {
    return (await this.#meta.getMeta(keys.tag(name, tag)))?.toString("utf8");
  }

  async deleteTag(name: string, tag: string): Promise<void> {
    await this.#meta.deleteMeta(keys.tag(name, tag));
  }

  /** Up to `limit` tags of `name` after `last` (exclusive), in lexical order. */
  async listTags(name: string, last: string | undefined, limit: number): Promise<string[]> {
    return this.#listAfter(keys.tagPrefix(name), last, limit);
  }

  /** Every tag of `name`, with the digest it points at. */
  async *tags(name: string): AsyncIterable<[tag: string, digest: string]> {
    const prefix = keys.tagPrefix(name);
    for await (const [key, value] of this.#meta.scanMeta(prefix)) yield [key.slice(prefix.length), value.toString("utf8")];
  }

  /** Every tag of every repository, in repository then tag order. */
  async *scanTags(): AsyncGenerator<{ repository: string; tag: string; digest: string }> {
    for await (const [key, value] of this.#meta.scanMeta(keys.tagPrefixAll)) {
      // A repository name holds no `:` (names.ts): the first one ends it.
      const nameAndTag = key.slice(keys.tagPrefixAll.length);
      const colon = nameAndTag.indexOf(":");
      yield { repository: nameAndTag.slice(0, colon), tag: nameAndTag.slice(colon + 1), digest: value.toString("utf8") };
    }
  }

  /** Tags of `name` that point at `digest`: a scan, as deletes are rare and tags per repository few. */
  async tagsOf(name: string, digest: string): Promise<string[]> {
    const found: string[] = [];
    for await (const [tag, target] of this.tags(name)) if (target === digest) found.push(tag);
    return found;
  }

  async addReferrer(name: string, subject: string, descriptor: Descriptor): Promise<void> {
    await this.#putJson(keys.referrer(name, subject, descriptor.digest), descriptor);
  }

  async removeReferrer(name: string, subject: string, digest: string): Promise<void> {
    await this.#meta.deleteMeta(keys.referrer(name, subject, digest));
  }

  async listReferrers(name: string, subject: string): Promise<Descriptor[]> {
    const found: Descriptor[] = [];
    for await (const [, value] of this.#meta.scanMeta(keys.referrerPrefix(name, subject))) {
      found.push(JSON.parse(value.toString("utf8")) as Descriptor);
    }
    return found;
  }

  async #listAfter(prefix: string, last: string | undefined, limit: number): Promise<string[]> {
    const out: string[] = [];
    if (limit <= 0) return out;
    // The scan starts past `last`, so a page costs its own entries, not all those before it. A
    // `last` longer than any name or tag (a client's mistake) would pass the store's key limit:
    // its first MAX_LISTED characters start the scan just as well, as every item after `last`
    // comes at or after them, and the filter below drops what lies between.
    const after = last === undefined ? undefined : prefix + last.slice(0, MAX_LISTED);
    for await (const [key] of this.#meta.scanMeta(prefix, after)) {
      const item = key.slice(prefix.length);
      if (last !== undefined && item <= last) continue;
      out.push(item);
      if (out.length >= limit) break;
    }
    return out;
  }

  async *#scanLinks<T>(prefix: string): AsyncGenerator<[repository: string, digest: string, record: T]> {
    for await (const [key, value] of this.#meta.scanMeta(prefix)) {
      // A repository name holds no `@` (names.ts): the last one starts the digest.
      const at = key.lastIndexOf("@");
      yield [key.slice(prefix.length, at), key.slice(at + 1), JSON.parse(value.toString("utf8")) as T];
    }
  }

  async #getJson<T>(key: string): Promise<T | undefined> {
    const value = await this.#meta.getMeta(key);
    return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
  }

  async #putJson(key: string, value: unknown): Promise<void> {
    await this.#meta.putMeta(key, Buffer.from(JSON.stringify(value)));
  }
}
