import { CHUNK_ID_BYTES, type ChunkId } from "../chunk-id.js";
import { PACK_ID_BYTES } from "./entries.js";

/** The names of a store's keys, all under its prefix P (the key schema is in redis-store.ts). */
export class RedisKeys {
  readonly settings: string;
  readonly metaIndex: string;
  readonly writing: string;
  readonly chunkPattern: string;
  readonly packPattern: string;
  readonly recipePattern: string;
  readonly #chunkPrefix: Buffer;
  readonly #packPrefix: string;
  readonly #recipePrefix: string;

  constructor(readonly prefix: string) {
    this.settings = `${prefix}:settings`;
    this.metaIndex = `{${prefix}}:mi`;
    this.writing = `{${prefix}}:writing`;
    this.#chunkPrefix = Buffer.from(`${prefix}:c:`);
    this.#packPrefix = `${prefix}:p:`;
    this.#recipePrefix = `${prefix}:r:`;
    this.chunkPattern = `${prefix}:c:*`;
    this.packPattern = `${prefix}:p:*`;
    this.recipePattern = `${prefix}:r:*`;
  }

  chunk(id: ChunkId): Buffer {
    return Buffer.concat([this.#chunkPrefix, id]);
  }

  /** The chunk id in an index key SCAN found; undefined for a key that only looks like one. */
  chunkIdOf(key: Buffer): ChunkId | undefined {
    return key.length === this.#chunkPrefix.length + CHUNK_ID_BYTES ? key.subarray(this.#chunkPrefix.length) : undefined;
  }

  pack(id: Buffer): string {
    return this.#packPrefix + id.toString("hex");
  }

  /** The pack id in a pack key SCAN found; undefined for a key that only looks like one. */
  packIdOf(key: Buffer): Buffer | undefined {
    const hex = key.subarray(this.#packPrefix.length).toString();
    return hex.length === 2 * PACK_ID_BYTES && /^[0-9a-f]+$/.test(hex) ? Buffer.from(hex, "hex") : undefined;
  }

  recipe(digest: string): string {
    return this.#recipePrefix + digest;
  }

  digestOf(key: Buffer): string {
    return key.subarray(this.#recipePrefix.length).toString();
  }

  meta(key: string): string {
    return `{${this.prefix}}:m:${key}`;
  }
}
