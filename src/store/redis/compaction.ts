import { randomBytes } from "node:crypto";
import type { RedisTarget } from "./connection.js";
import { decodeLocation, encodeLocation, LOCATION_BYTES, PACK_ID_BYTES, type Location } from "./entries.js";
import type { RedisKeys } from "./keys.js";
import { getValues, readRecords, scanKeys } from "./pack-io.js";
import { MAX_PACK_BYTES, planPacks } from "./pack-plan.js";
import { MOVE } from "./scripts.js";
import type { WritingPacks } from "./writing.js";

/**
 * Compaction of a Redis store's packs: a pack whose records still in the index (live or
 * doomed: both are read) are under `minLiveShare` of its bytes is rewritten, and Redis frees the
 * rest. Steps, in this order:
 *
 *   1. SCAN the packs, with their sizes.
 *   2. Read the packs being written (writing.ts) and leave those alone: a pack found in step 1
 *      and not registered any more has every index entry that points into it written already.
 *   3. SCAN the index: the records each pack of step 1 still has. An entry can come to point
 *      into such a pack only while its writer holds the registration, so none appears later.
 *   4. For a group of low packs (their live records up to one pack's worth of bytes): register
 *      new pack ids, copy the live records into new packs (cut by pack-plan.ts), point each entry
 *      at its copy only if it still points at the original (MOVE, atomic per entry: a put that
 *      revives, a delete or another compaction may change it meanwhile), DEL the old packs, and
 *      let go of the new ids.
 *
 * Readers: an entry points at bytes that exist at every moment (the copy is written before the
 * switch, the original deleted after it). A reader that read an old location just before the
 * switch and reaches the pack after its DEL gets a short answer, reads the index again and finds
 * the copy (RedisStore.getChunks). A crash anywhere leaves at worst a copy nothing points at, or
 * an old pack nothing points at any more: the next compaction removes them (the copy once its
 * registration is stale). Two compactions at once copy a record twice at worst; only one copy
 * gets the entry, and the other is removed next time.
 */
interface LiveRecord {
  key: Buffer;
  /** The entry's location, as MOVE compares it. */
  entry: Buffer;
  at: Location;
}

interface LowPack {
  id: Buffer;
  size: number;
  live: LiveRecord[];
}

export interface Compaction {
  packs: number;
  freedBytes: number;
}

export async function compactPacks(redis: RedisTarget, keys: RedisKeys, writing: WritingPacks, minLiveShare: number): Promise<Compaction> {
  const sizes = await packSizes(redis, keys);
  const busy = await writing.current();
  for (const pack of busy) sizes.delete(pack);
  const records = await recordsIn(redis, keys, sizes);

  const done: Compaction = { packs: 0, freedBytes: 0 };
  let group: LowPack[] = [];
  let groupBytes = 0;
  const flush = async () => {
    const { packs, freedBytes } = await rewrite(redis, keys, writing, group);
    done.packs += packs;
    done.freedBytes += freedBytes;
    group = [];
    groupBytes = 0;
  };
  for (const [pack, size] of sizes) {
    const live = [...(records.get(pack)?.values() ?? [])].sort((a, b) => a.at.offset - b.at.offset);
    const liveBytes = live.reduce((sum, r) => sum + r.at.length, 0);
    if (size > 0 && liveBytes / size >= minLiveShare) continue;
    group.push({ id: Buffer.from(pack, "hex"), size, live });
    groupBytes += liveBytes;
    if (groupBytes >= MAX_PACK_BYTES) await flush();
  }
  if (group.length > 0) await flush();
  return done;
}

/** Every pack (hex id) and its size. */
async function packSizes(redis: RedisTarget, keys: RedisKeys): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const found of scanKeys(redis, keys.packPattern)) {
    const lengths = await Promise.all(found.map((key) => redis.command(key, ["STRLEN", key], true)));
    found.forEach((key, i) => {
      const id = keys.packIdOf(key);
      if (id !== undefined) sizes.set(id.toString("hex"), lengths[i] as number);
    });
  }
  return sizes;
}

/** The records of these packs that index entries point at, by pack and by entry key (SCAN may return a key twice). */
async function recordsIn(redis: RedisTarget, keys: RedisKeys, packs: Map<string, number>): Promise<Map<string, Map<string, LiveRecord>>> {
  const records = new Map<string, Map<string, LiveRecord>>();
  for await (const found of scanKeys(redis, keys.chunkPattern)) {
    const entries = await getValues(redis, found);
    found.forEach((key, i) => {
      const at = decodeLocation(entries[i]!);
      const pack = at?.pack.toString("hex");
      if (at === undefined || pack === undefined || !packs.has(pack)) return;
      let inPack = records.get(pack);
      if (inPack === undefined) records.set(pack, (inPack = new Map()));
      inPack.set(key.toString("latin1"), { key, entry: (entries[i] as Buffer).subarray(0, LOCATION_BYTES), at });
    });
  }
  return records;
}

/** Copies the live records of a group of packs into new packs, switches their entries, removes the old packs. */
async function rewrite(redis: RedisTarget, keys: RedisKeys, writing: WritingPacks, group: LowPack[]): Promise<Compaction> {
  const records = group.flatMap((pack) => pack.live);
  const { data, short } = await readRecords(redis, keys, records.map((r) => r.at));
  // A pack that came back short was removed by another compaction (whose copies the entries
  // point at now), or is damaged: either way not this one's to touch.
  const gone = new Set(short.map((i) => records[i]!.at.pack.toString("hex")));
  const old = group.filter((pack) => !gone.has(pack.id.toString("hex")));
  const copies = records.flatMap((record, i) => (gone.has(record.at.pack.toString("hex")) ? [] : [{ record, bytes: data[i]! }]));

  const counts = planPacks(copies.map((c) => c.bytes.length));
  const ids = counts.map(() => randomBytes(PACK_ID_BYTES));
  await writing.register(ids);
  const moves: Promise<unknown>[] = [];
  let next = 0;
  await Promise.all(counts.map(async (count, p) => {
    const members = copies.slice(next, (next += count));
    const key = keys.pack(ids[p]!);
    await redis.command(key, ["SET", key, Buffer.concat(members.map((m) => m.bytes))]);
    let offset = 0;
    for (const { record, bytes } of members) {
      const copy = encodeLocation({ pack: ids[p]!, offset, length: bytes.length });
      offset += bytes.length;
      moves.push(MOVE.run(redis, record.key, [record.entry, copy]));
    }
  }));
  await Promise.all(moves);
  await Promise.all(old.map((pack) => {
    const key = keys.pack(pack.id);
    return redis.command(key, ["DEL", key]);
  }));
  // Released only now: a crash before leaves the copies registered (left alone) until stale.
  await writing.release(ids);
  const copied = copies.reduce((sum, c) => sum + c.bytes.length, 0);
  return { packs: old.length, freedBytes: old.reduce((sum, pack) => sum + pack.size, 0) - copied };
}
