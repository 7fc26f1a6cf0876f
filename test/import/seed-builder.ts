import { createHash } from "node:crypto";
import { deflateSync } from "node:zlib";
import { createClient, RESP_TYPES } from "@redis/client";
import { chunkStream } from "../../src/chunking/stream.js";
import type { ChunkerSpec } from "../../src/chunking/types.js";
import { xxh64Hex } from "../../src/import/xxhash64.js";
import { fromPieces } from "../helpers.js";

/** How the seed's storage module was configured (nitro.yaml). */
export interface SeedConfig {
  storageAlgorithm: "xxhash" | "md5" | "sha256";
  /** 0: chunks stored as they are; 1-9: zlib level. */
  compressionLevel: number;
  /** The master branch's image_type flag as the first length_list entry ("1" config, "0" layer); absent on rongyu. */
  imageTypeFlag: boolean;
}

/** docker_dedup's chunking: PyRabin with chunk_min/ave/max_size 4096/8192/65536. */
export const SEED_CHUNKER: ChunkerSpec = { algorithm: "rabin", minSize: 4096, avgSize: 8192, maxSize: 65536, tarAware: false };

export interface SeedLayerWritten {
  /** sha256 hex of the layer: its key. */
  key: string;
  chunkKeys: string[];
}

/**
 * Writes layers into a Redis database the way docker_dedup's storage module did (storage/dal.py):
 * each chunk under the hex digest of its bytes if absent, then the recipe under the layer's
 * sha256 hex, `'|'.join(length_list) + ':' + ''.join(keys)`.
 */
function binaryClient(url: string) {
  return createClient({ url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

export class SeedWriter {
  /** Values read as Buffers, for tests that damage the seed. */
  readonly client: ReturnType<typeof binaryClient>;
  readonly config: SeedConfig;

  private constructor(client: ReturnType<typeof binaryClient>, config: SeedConfig) {
    this.client = client;
    this.config = config;
  }

  static async open(url: string, config: SeedConfig): Promise<SeedWriter> {
    const client = binaryClient(url);
    await client.connect();
    await client.flushDb();
    return new SeedWriter(client, config);
  }

  chunkKey(chunk: Uint8Array): string {
    switch (this.config.storageAlgorithm) {
      case "xxhash":
        return xxh64Hex(chunk);
      case "md5":
        return createHash("md5").update(chunk).digest("hex");
      case "sha256":
        return createHash("sha256").update(chunk).digest("hex");
    }
  }

  /** `imageType`: "1" for a config blob, "0" for a layer (written only with `imageTypeFlag`). */
  async addLayer(bytes: Buffer, imageType: "0" | "1" = "0"): Promise<SeedLayerWritten> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of chunkStream(fromPieces([bytes]), SEED_CHUNKER)) chunks.push(chunk);
    const chunkKeys: string[] = [];
    for (const chunk of chunks) {
      const key = this.chunkKey(chunk);
      chunkKeys.push(key);
      if (!(await this.client.exists(key))) {
        await this.client.set(key, this.config.compressionLevel > 0 ? deflateSync(chunk, { level: this.config.compressionLevel }) : Buffer.from(chunk));
      }
    }
    const key = createHash("sha256").update(bytes).digest("hex");
    await this.client.set(key, recipeValue(chunks.map((c) => c.length), chunkKeys, this.config.imageTypeFlag ? imageType : undefined));
    return { key, chunkKeys };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The seed's recipe value: length_list is the chunk lengths folded into (about) five partial sums,
 * each a binary struct.pack("I"), so bytes such as ':' and '|' may appear in it.
 */
export function recipeValue(lengths: number[], chunkKeys: string[], imageType?: "0" | "1"): Buffer {
  const groupSize = Math.max(1, Math.ceil(lengths.length / 5));
  const lengthList: Buffer[] = imageType === undefined ? [] : [Buffer.from(imageType)];
  for (let i = 0; i < lengths.length; i += groupSize) {
    const sum = Buffer.alloc(4);
    sum.writeUInt32LE(lengths.slice(i, i + groupSize).reduce((a, b) => a + b, 0));
    lengthList.push(sum);
  }
  // One sum written as ':' and '|' bytes, as a real one can be: only the last ':' separates the keys.
  lengthList.push(Buffer.from(":|:|"));
  const parts = lengthList.flatMap((entry, i) => (i === 0 ? [entry] : [Buffer.from("|"), entry]));
  return Buffer.concat([...parts, Buffer.from(":" + chunkKeys.join(""))]);
}
