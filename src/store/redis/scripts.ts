import { createHash } from "node:crypto";
import type { Arg, RedisTarget, Reply } from "./connection.js";

/**
 * The Lua scripts that change one chunk index entry (KEYS[1]) atomically, whatever else runs on
 * that entry at the same time: a put, a doom, a delete, a compaction's move. Each touches one
 * key, so each runs on the key's own master of a cluster. Entry formats: entries.ts.
 */
export class Script {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs by hash; a node that does not know the script yet (restarted, failed over) gets its source. */
  async run(redis: RedisTarget, key: Arg, args: Arg[]): Promise<Reply> {
    try {
      return await redis.command(key, ["EVALSHA", this.#sha, "1", key, ...args]);
    } catch (error) {
      if (!/NOSCRIPT/.test(String((error as Error).message))) throw error;
      return redis.command(key, ["EVAL", this.#source, "1", key, ...args]);
    }
  }
}

/**
 * A put's first step. Absent: claims the entry for the writer (ARGV[1], expiring after ARGV[2]
 * ms) and answers nil. Doomed: makes it live again in place (its record is still in its pack)
 * and answers the live entry. Otherwise answers the entry (a location, or a claim: ours if a
 * retried request already set it, else another writer's).
 */
export const CLAIM_OR_REVIVE = new Script(`
local entry = redis.call('GET', KEYS[1])
if not entry then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return false
end
if #entry == 24 then
  entry = string.sub(entry, 1, 16)
  redis.call('SET', KEYS[1], entry)
end
return entry`);

/** Deletes a claim only if it is still ours (ARGV[1]): it may have expired and been taken over. */
export const RELEASE_CLAIM = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** Dooms a live entry as of ARGV[1] (u64 ms); a doomed entry keeps the time it was first doomed. */
export const DOOM = new Script(`
local entry = redis.call('GET', KEYS[1])
if entry and #entry == 16 then
  redis.call('SET', KEYS[1], entry .. ARGV[1])
  return 1
end
return 0`);

/**
 * Deletes the entry if it is doomed since ARGV[1] (ms, decimal) or before, and answers the
 * record's length; -1 if it is not (live again, doomed later, gone). The time is compared as a
 * number: Lua compares strings by the server's locale.
 */
export const DELETE_DOOMED = new Script(`
local entry = redis.call('GET', KEYS[1])
if not entry or #entry ~= 24 then return -1 end
local at = 0
for i = 17, 24 do at = at * 256 + string.byte(entry, i) end
if at > tonumber(ARGV[1]) then return -1 end
redis.call('DEL', KEYS[1])
local length = 0
for i = 13, 16 do length = length * 256 + string.byte(entry, i) end
return length`);

/**
 * Compaction's switch: points the entry at the record's copy (ARGV[2]) only if it still points
 * at the original (ARGV[1]), keeping its doom; answers 1 if it moved.
 */
export const MOVE = new Script(`
local entry = redis.call('GET', KEYS[1])
if not entry or #entry < 16 or string.sub(entry, 1, 16) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2] .. string.sub(entry, 17))
return 1`);
