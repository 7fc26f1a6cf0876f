import { validateSpec } from "../chunking/spec.js";
import type { ChunkAlgorithm, ChunkerSpec } from "../chunking/types.js";
import { DedupError } from "../errors.js";
import { NO_COMPRESSION, type Compression } from "../store/codec.js";
import { DEFAULT_SETTINGS, openStore, storeLocation } from "../store/open.js";
import type { Store, StoreSettings } from "../store/types.js";

export interface StoreFlags {
  store?: string;
  chunker?: string;
  compression?: string;
  tarAware?: boolean;
}


/** Opens the store named by the flags; chunker/compression flags shape a store being created. */
export async function openStoreFromFlags(flags: StoreFlags): Promise<Store> {
  const wanted = settingsFromFlags(flags);
  const store = await openStore(storeLocation(flags.store), { create: true, settings: wanted });
  if ((flags.chunker !== undefined || flags.compression !== undefined || flags.tarAware === false) && JSON.stringify(store.settings) !== JSON.stringify(wanted)) {
    await store.close();
    throw new DedupError("INPUT_INVALID", `the store at ${store.location} already exists with other chunking settings: ${JSON.stringify(store.settings)}`);
  }
  return store;
}

/** `fastcdc/16k` (min avg/4, max avg*4), `fastcdc/4k:16k:64k`, `rabin/4096:8192:65536`, `fixed/64k`. */
export function parseChunker(text: string, tarAware: boolean): ChunkerSpec {
  const match = /^(fastcdc|rabin|fixed)\/([0-9kKmM:]+)$/.exec(text);
  if (!match) throw new DedupError("INPUT_INVALID", `bad --chunker "${text}": expected ALGORITHM/AVG or ALGORITHM/MIN:AVG:MAX, e.g. fastcdc/16k`);
  const algorithm = match[1] as ChunkAlgorithm;
  const sizes = match[2]!.split(":").map(parseSize);
  let spec: ChunkerSpec;
  if (sizes.length === 1) {
    const avg = sizes[0]!;
    spec = algorithm === "fixed" ? { algorithm, minSize: avg, avgSize: avg, maxSize: avg, tarAware } : { algorithm, minSize: Math.max(64, avg / 4), avgSize: avg, maxSize: avg * 4, tarAware };
  } else if (sizes.length === 3) {
    spec = { algorithm, minSize: sizes[0]!, avgSize: sizes[1]!, maxSize: sizes[2]!, tarAware };
  } else {
    throw new DedupError("INPUT_INVALID", `bad --chunker "${text}": give one size or three`);
  }
  try {
    return validateSpec(spec);
  } catch (error) {
    throw new DedupError("INPUT_INVALID", `bad --chunker "${text}": ${(error as Error).message}`);
  }
}

function parseSize(text: string): number {
  const match = /^(\d+)([kKmM]?)$/.exec(text);
  if (!match) throw new DedupError("INPUT_INVALID", `bad size "${text}"`);
  const unit = match[2]!.toLowerCase();
  return Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1 << 20 : 1);
}

function parseCompression(text: string): Compression {
  if (text === "none") return NO_COMPRESSION;
  const match = /^zstd(?::(-?\d+))?$/.exec(text);
  if (!match) throw new DedupError("INPUT_INVALID", `bad --compression "${text}": expected none, zstd or zstd:LEVEL`);
  return { codec: "zstd", level: match[1] === undefined ? 3 : Number(match[1]) };
}

function settingsFromFlags(flags: StoreFlags): StoreSettings {
  const tarAware = flags.tarAware ?? DEFAULT_SETTINGS.chunker.tarAware;
  return {
    chunker: flags.chunker === undefined ? { ...DEFAULT_SETTINGS.chunker, tarAware } : parseChunker(flags.chunker, tarAware),
    compression: flags.compression === undefined ? DEFAULT_SETTINGS.compression : parseCompression(flags.compression),
    chunkHash: "sha256",
  };
}
