import { createClient, ErrorReply, RESP_TYPES } from "@redis/client";
import { DedupError } from "../errors.js";
import type { SeedCandidate, SeedSource } from "./seed-source.js";

/** SCAN's MATCH for 64 lowercase hex digits, so Redis itself skips other keys (`map`, md5 and xxhash64 chunks). */
const SHA256_HEX_PATTERN = "[0-9a-f]".repeat(64);
/** Keys per SCAN step (a hint to Redis). */
const SCAN_COUNT = 1000;
const CONNECT_TIMEOUT_MS = 10_000;
const COMMAND_TIMEOUT_MS = 60_000;

/** The seed's Redis (not a cluster: the seed ran one), read with one connection; commands issued together go out as one pipeline. */
export async function openRedisSeed(url: string): Promise<SeedSource> {
  const location = withoutCredentials(url);
  let client: ReturnType<typeof connectionTo>;
  try {
    client = connectionTo(url);
  } catch (error) {
    throw new DedupError("INPUT_INVALID", `bad seed URL ${location}: ${reason(error)}`, { location }, { cause: error });
  }
  client.on("error", () => undefined); // failures surface as rejected commands; without a listener they would crash the process
  try {
    await client.connect();
  } catch (error) {
    client.destroy();
    throw new DedupError("STORE_UNAVAILABLE", `cannot reach the seed Redis at ${location}: ${reason(error)}`, { location }, { cause: error });
  }
  // Values are chunk bytes: decoded as UTF-8 (the default) they would be corrupted.
  const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });

  /** Runs one batch; a key holding no byte string (WRONGTYPE) counts as absent, any other failure ends the import. */
  async function batch<K, T>(keys: readonly K[], command: (key: K) => Promise<T>): Promise<(T | undefined)[]> {
    const settled = await Promise.allSettled(keys.map(command));
    return settled.map((result) => {
      if (result.status === "fulfilled") return result.value;
      if (result.reason instanceof ErrorReply && result.reason.message.startsWith("WRONGTYPE")) return undefined;
      throw failed(result.reason);
    });
  }

  function failed(error: unknown): DedupError {
    return new DedupError("STORE_UNAVAILABLE", `the seed Redis at ${location} failed: ${reason(error)}`, { location }, { cause: error });
  }

  return {
    location,
    async *scanLayerCandidates(tailBytes: number): AsyncIterable<SeedCandidate[]> {
      const scan = client.scanIterator({ MATCH: SHA256_HEX_PATTERN, COUNT: SCAN_COUNT });
      while (true) {
        let step: IteratorResult<string[]>;
        try {
          step = await scan.next();
        } catch (error) {
          throw failed(error);
        }
        if (step.done) return;
        const tails = await batch(step.value, (key) => binary.getRange(key, -tailBytes, -1));
        const candidates: SeedCandidate[] = [];
        step.value.forEach((key, i) => tails[i] !== undefined && candidates.push({ key, tail: tails[i]! }));
        yield candidates;
      }
    },
    async getValues(keys) {
      if (keys.length === 0) return [];
      // One MGET, not a GET per key: the client's cost is per command (a reply and a timeout each).
      try {
        return (await binary.mGet([...keys])).map((value) => value ?? undefined);
      } catch (error) {
        throw failed(error);
      }
    },
    async valueLengths(keys) {
      // A missing key has length 0; the seed never stores an empty value (chunks are never empty).
      return (await batch(keys, (key) => client.strLen(key))).map((length) => (length ? length : undefined));
    },
    async close() {
      await client.close().catch(() => client.destroy());
    },
  };
}

function connectionTo(url: string) {
  // No reconnecting: a seed import that lost its source must stop and say so, not hang. A command
  // may wait long for a busy server (the client's default is 5 s), but not forever for a dead one.
  return createClient({
    url,
    socket: { connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: false },
    commandOptions: { timeout: COMMAND_TIMEOUT_MS },
  });
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    throw new DedupError("INPUT_INVALID", `not a URL: ${url}`);
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
