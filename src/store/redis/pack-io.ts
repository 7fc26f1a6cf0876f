import type { Arg, RedisTarget, Reply } from "./connection.js";
import type { Location } from "./entries.js";
import type { RedisKeys } from "./keys.js";

const SCAN_COUNT = "512";

/** Every key matching `pattern`, a SCAN page at a time, over every master. */
export async function* scanKeys(redis: RedisTarget, pattern: string): AsyncIterable<Buffer[]> {
  for (const node of await redis.masters()) {
    let cursor = "0";
    do {
      const [next, keys] = (await node.command(["SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT])) as [Buffer, Buffer[]];
      cursor = next.toString();
      if (keys.length > 0) yield keys;
    } while (cursor !== "0");
  }
}

/** The values of keys, in one pipelined round of GETs. */
export function getValues(redis: RedisTarget, keys: readonly Arg[]): Promise<Reply[]> {
  return Promise.all(keys.map((key) => redis.command(key, ["GET", key], true)));
}

/**
 * Reads records from their packs. Records that sit back to back in one pack (a blob's chunks
 * were written in order) come in one GETRANGE. `short` lists the records whose pack came back
 * shorter than the location says: a compaction removed it after the location was read (or the
 * store is damaged; the caller tells which by reading the index again).
 */
export async function readRecords(redis: RedisTarget, keys: RedisKeys, locations: readonly (Location | undefined)[]): Promise<{ data: (Buffer | undefined)[]; short: number[] }> {
  const data: (Buffer | undefined)[] = new Array(locations.length).fill(undefined);
  const short: number[] = [];
  const reads: Promise<void>[] = [];
  for (let i = 0; i < locations.length; ) {
    const first = locations[i];
    if (first === undefined) {
      i++;
      continue;
    }
    let end = first.offset + first.length;
    let j = i + 1;
    for (let next = locations[j]; next !== undefined && next.offset === end && next.pack.equals(first.pack); next = locations[++j]) end += next.length;
    const run = { from: i, to: j };
    const key = keys.pack(first.pack);
    reads.push(
      redis.command(key, ["GETRANGE", key, String(first.offset), String(end - 1)], true).then((bytes) => {
        const whole = Buffer.isBuffer(bytes) && bytes.length === end - first.offset;
        for (let k = run.from; k < run.to; k++) {
          const at = locations[k]!;
          if (whole) data[k] = bytes.subarray(at.offset - first.offset, at.offset - first.offset + at.length);
          else short.push(k);
        }
      }),
    );
    i = j;
  }
  await Promise.all(reads);
  return { data, short };
}
