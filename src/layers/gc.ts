import type { ChunkId } from "../store/chunk-id.js";
import { decodeRecipe, encodeRecipe } from "../store/recipe.js";
import { slicesAmong } from "../store/runs.js";
import type { CodecPool } from "./codec-pool.js";
import { settleRuns, type SettleReport } from "./settle.js";
import type { Store } from "../store/types.js";
import { GZIP_PENDING_PREFIX } from "./gzip/convert.js";
import { decodeGzipForm, GZIP_FORM_PREFIX, gzipFormKey } from "./gzip/form.js";

/**
 * Garbage collection of blobs and chunks, online: it runs while pushes, pulls and other
 * frontends go on, and a crash at any step leaves every needed blob readable. Everything goes in
 * two phases a grace period apart, so that nothing is taken from under a push in flight:
 *
 * Blobs. A blob no root needs (roots: what the registry above still links, which it decides and
 * prunes before calling here, and live upload sessions' parts; pinned blobs, gzip layers waiting
 * for conversion, and the content of every gzip layer kept) is doomed:
 * its recipe or gzip form is moved aside (`gc/doomed/<kind>/<digest>`, with the time). A doomed
 * blob is no longer found by `has` (a push of it writes it anew), but `open` still finds it and
 * brings it back (a blob linked between a collection's look at the roots and its doom, which a
 * race allows, is never lost); so does the next collection if a root needs it again. A doomed
 * copy older than the grace period, that no root needs, is deleted.
 *
 * Chunks. A chunk that no recipe needs, live or doomed, is doomed in the store (still read, but
 * `hasChunks` answers false, so an ingest writes it again: ChunkStore in store/types.ts); one
 * doomed longer than the grace period and needed by nothing is deleted; a doomed chunk a recipe
 * needs again is written back. Last, packs whose live share fell low are rewritten.
 *
 * Order of one collection: roots; blobs doomed, brought back or deleted; chunks doomed, brought
 * back or deleted; packs compacted. A crash between any two steps leaves nothing a root needs
 * unreadable, and the next collection goes on from what it finds.
 */

export interface CollectOptions {
  /** Blobs something above needs (a registry's links, upload parts): the roots, besides this layer's own. */
  roots: ReadonlySet<string>;
  /** How long a blob or chunk stays doomed before it is deleted. */
  graceMs: number;
  now: number;
  /** Report only: change nothing. */
  dryRun: boolean;
  /** Packs whose live share is under this are rewritten. */
  minLiveShare: number;
}

export interface CollectReport {
  blobs: { live: number; doomed: number; broughtBack: number; deleted: number; deletedBytes: number };
  chunks: { live: number; doomed: number; broughtBack: number; deleted: number; deletedBytes: number };
  /** Runs compressed again (settle.ts). */
  runs: SettleReport;
  packs: { rewritten: number; freedBytes: number };
}

/** Blobs a `docker-dedup add` or `import-seed` stored, which no repository links: kept until unpinned. */
export const PINNED_PREFIX = "layers/pinned/";
const DOOMED_PREFIX = "gc/doomed/";
type Kind = "recipe" | "form";

export function pinKey(digest: string): string {
  return PINNED_PREFIX + digest;
}

function doomedKey(kind: Kind, digest: string): string {
  return `${DOOMED_PREFIX}${kind}/${digest}`;
}

/** A doomed copy: when it was doomed (u64 ms) and the recipe or form it holds. */
function doomedValue(at: number, value: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + value.length);
  out.writeBigUInt64BE(BigInt(at));
  out.set(value, 8);
  return out;
}

/** Brings a doomed blob back: its recipe or form written again, then the doomed copy dropped. False if there is none. */
export async function bringBack(store: Store, digest: string): Promise<boolean> {
  let found = false;
  for (const kind of ["recipe", "form"] as const) {
    const copy = await store.getMeta(doomedKey(kind, digest));
    if (copy === undefined) continue;
    const value = copy.subarray(8);
    if (kind === "recipe") await store.putRecipe(decodeRecipe(digest, value));
    else await store.putMeta(gzipFormKey(digest), value);
    await store.sync();
    await store.deleteMeta(doomedKey(kind, digest));
    found = true;
  }
  return found;
}

export async function collect(store: Store, options: CollectOptions, codec: CodecPool): Promise<CollectReport> {
  const { now, graceMs, dryRun } = options;
  const report: CollectReport = {
    blobs: { live: 0, doomed: 0, broughtBack: 0, deleted: 0, deletedBytes: 0 },
    chunks: { live: 0, doomed: 0, broughtBack: 0, deleted: 0, deletedBytes: 0 },
    runs: { runs: 0, savedBytes: 0 },
    packs: { rewritten: 0, freedBytes: 0 },
  };

  // Roots, and what they need in turn: a gzip layer's content.
  const live = new Set(options.roots);
  for await (const [key] of store.scanMeta(PINNED_PREFIX)) live.add(key.slice(PINNED_PREFIX.length));
  for await (const [key] of store.scanMeta(GZIP_PENDING_PREFIX)) live.add(key.slice(GZIP_PENDING_PREFIX.length));
  const formContent = async (digest: string, value: Buffer) => live.add(decodeGzipForm(digest, value).content);
  for await (const [key, value] of store.scanMeta(GZIP_FORM_PREFIX)) {
    const digest = key.slice(GZIP_FORM_PREFIX.length);
    if (live.has(digest)) await formContent(digest, value);
  }
  // Doomed blobs a root needs again come back (and so does what they need).
  for await (const [key, value] of store.scanMeta(DOOMED_PREFIX)) {
    const [kind, digest] = key.slice(DOOMED_PREFIX.length).split("/") as [Kind, string];
    if (!live.has(digest)) continue;
    if (kind === "form") await formContent(digest, value.subarray(8));
    if (!dryRun) await bringBack(store, digest);
    report.blobs.broughtBack++;
  }

  // Blobs no root needs are doomed.
  const doom = async (kind: Kind, digest: string, value: Uint8Array) => {
    report.blobs.doomed++;
    if (dryRun) return;
    await store.putMeta(doomedKey(kind, digest), doomedValue(now, value));
    if (kind === "recipe") await store.deleteRecipe(digest);
    else await store.deleteMeta(gzipFormKey(digest));
  };
  for await (const [key, value] of store.scanMeta(GZIP_FORM_PREFIX)) {
    const digest = key.slice(GZIP_FORM_PREFIX.length);
    if (live.has(digest)) report.blobs.live++;
    else await doom("form", digest, value);
  }
  const needed = new Map<string, ChunkId>();
  for await (const recipe of store.scanRecipes()) {
    if (live.has(recipe.digest)) {
      report.blobs.live++;
      for (const id of recipe.ids) needed.set(id.toString("latin1"), id);
    } else {
      await doom("recipe", recipe.digest, encodeRecipe(recipe));
    }
  }
  // Doomed copies past the grace period go; younger ones still hold their chunks.
  for await (const [key, value] of store.scanMeta(DOOMED_PREFIX)) {
    const [kind, digest] = key.slice(DOOMED_PREFIX.length).split("/") as [Kind, string];
    if (live.has(digest)) continue;
    const doomedAt = Number(value.readBigUInt64BE(0));
    if (doomedAt > now - graceMs) {
      if (kind === "recipe") for (const id of decodeRecipe(digest, value.subarray(8)).ids) needed.set(id.toString("latin1"), id);
      continue;
    }
    report.blobs.deleted++;
    report.blobs.deletedBytes += kind === "recipe" ? decodeRecipe(digest, value.subarray(8)).size : decodeGzipForm(digest, value.subarray(8)).size;
    if (!dryRun) await store.deleteMeta(key);
  }
  if (!dryRun) await store.sync();

  // A run (store/codec.ts) is needed while a chunk stored as its slice is needed, or live: an
  // ingest may count on a live chunk at any time, so a run is doomed only once all its slices
  // are, a collection (a grace period) after them at the earliest.
  const runs = new Set<string>();
  for await (const batch of store.scanChunkEntries()) {
    const holders = batch.filter((entry) => entry.doomedAt === undefined || needed.has(entry.id.toString("latin1")));
    for (const { run } of await slicesAmong(store, holders)) {
      needed.set(run.toString("latin1"), run);
      runs.add(run.toString("latin1"));
    }
  }

  // Chunks: the needed ones live (written back if doomed), the others doomed, then deleted.
  const toDoom: ChunkId[] = [];
  const toDelete: ChunkId[] = [];
  const toBringBack: ChunkId[] = [];
  const runsToBringBack: ChunkId[] = [];
  for await (const batch of store.scanChunkEntries()) {
    for (const entry of batch) {
      const isNeeded = needed.has(entry.id.toString("latin1"));
      if (isNeeded) report.chunks.live++;
      if (isNeeded && entry.doomedAt !== undefined) (runs.has(entry.id.toString("latin1")) ? runsToBringBack : toBringBack).push(entry.id);
      else if (!isNeeded && entry.doomedAt === undefined) toDoom.push(entry.id);
      else if (!isNeeded && entry.doomedAt! <= now - graceMs) toDelete.push(entry.id);
    }
  }
  // Runs come back before their slices: a crash between leaves no live slice of a doomed run.
  const comingBack = runsToBringBack.concat(toBringBack);
  report.chunks.doomed = toDoom.length;
  report.chunks.broughtBack = comingBack.length;
  if (dryRun) {
    report.chunks.deleted = toDelete.length;
    return report;
  }
  for (let at = 0; at < comingBack.length; at += CHUNK_BATCH) {
    const ids = comingBack.slice(at, at + CHUNK_BATCH);
    const data = await store.getChunks(ids);
    await store.putChunks(ids.flatMap((id, i) => (data[i] === undefined ? [] : [{ id, data: data[i]! }])));
  }
  for (let at = 0; at < toDoom.length; at += CHUNK_BATCH) await store.doomChunks(toDoom.slice(at, at + CHUNK_BATCH), now);
  for (let at = 0; at < toDelete.length; at += CHUNK_BATCH) {
    const { chunks, bytes } = await store.deleteDoomedChunks(toDelete.slice(at, at + CHUNK_BATCH), now - graceMs);
    report.chunks.deleted += chunks;
    report.chunks.deletedBytes += bytes;
  }
  // Runs needed, written at the ingest level, are compressed again (settle.ts), before the packs
  // their old forms leave are compacted.
  report.runs = await settleRuns(store, [...runs].map((key) => Buffer.from(key, "latin1")), codec, SETTLE_BUDGET_BYTES);
  await store.sync();
  const { packs, freedBytes } = await store.compact(options.minLiveShare);
  report.packs = { rewritten: packs, freedBytes };
  return report;
}

/** Chunks handled per store call. */
const CHUNK_BATCH = 512;
/** Plain bytes of runs compressed again per collection: about a minute of one core. */
const SETTLE_BUDGET_BYTES = 4 * 2 ** 30;
