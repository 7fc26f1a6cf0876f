import type { RedisTarget } from "./connection.js";

/**
 * The packs being written, so that compaction leaves them alone: the sorted set {P}:writing of
 * pack ids (8 raw bytes), scored by when their writer registered them (ms since the epoch).
 *
 * A writer (a put, or a compaction writing copies) registers a pack before it writes it and
 * lets go once every index entry that is to point into it is written. So a compaction that
 * finds a pack, then reads this set and does not find it there, sees all of its entries in a
 * later scan of the index. A registration older than STALE_MS is a dead writer's: dropped, and
 * its pack is compacted like any other (an orphan nothing points at, or a partly indexed one).
 */
const STALE_MS = 60 * 60_000;

export class WritingPacks {
  constructor(
    private readonly redis: RedisTarget,
    private readonly key: string,
  ) {}

  async register(ids: readonly Buffer[]): Promise<void> {
    if (ids.length === 0) return;
    const now = String(Date.now());
    await this.redis.command(this.key, ["ZADD", this.key, ...ids.flatMap((id) => [now, id])]);
  }

  async release(ids: readonly Buffer[]): Promise<void> {
    if (ids.length > 0) await this.redis.command(this.key, ["ZREM", this.key, ...ids]);
  }

  /** The packs registered now (hex ids), once stale registrations are dropped. */
  async current(): Promise<Set<string>> {
    await this.redis.command(this.key, ["ZREMRANGEBYSCORE", this.key, "-inf", `(${Date.now() - STALE_MS}`]);
    const ids = (await this.redis.command(this.key, ["ZRANGE", this.key, "0", "-1"])) as Buffer[];
    return new Set(ids.map((id) => id.toString("hex")));
  }
}
