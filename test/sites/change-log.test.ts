import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ChangeLog, type NewChange } from "../../src/sites/log/change-log.js";
import type { ChangeEntry } from "../../src/sites/wire/peer-protocol.js";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../helpers.js";

/** The change log on a real embedded store: compaction drops only what later entries supersede. */

const write = (key: string, value: string | null, time: number): NewChange => ({ site: "a", time, key, value: value === null ? null : Buffer.from(value).toString("base64") });
const holds = (site: string, digest: string, time: number): NewChange => ({ site, time, holds: digest });

/** Applies entries in order, last writer wins (as a peer does): registry key -> value, and the holdings. */
function stateOf(entries: ChangeEntry[]): { values: Map<string, string | null>; holdings: Set<string> } {
  const values = new Map<string, string | null>();
  const holdings = new Set<string>();
  for (const entry of entries) {
    if ("holds" in entry) holdings.add(`${entry.site} ${entry.holds}`);
    else values.set(entry.key, entry.value);
  }
  return { values, holdings };
}

test("compaction keeps the newest entry of each key and holding; readers from any position end in the same state", async (t) => {
  const store = await openStore(join(await tempDir(t), "store"), { create: true });
  t.after(() => store.close());
  const log = await ChangeLog.open(store);
  await log.compacted();
  const changes = [
    write("registry/repo/a/tag/v1", "m1", 1),
    write("registry/repo/a/tag/v2", "m2", 2),
    write("registry/repo/a/tag/v1", "m3", 3),
    holds("a", "sha256:x", 4),
    holds("a", "sha256:x", 5),
    holds("b", "sha256:x", 6),
    write("registry/repo/a/tag/v1", null, 7),
  ];
  for (const change of changes) await log.append(change);
  const before = await log.read(0, 100);
  assert.equal(before.length, 7);

  assert.equal(await log.compact(), 3);
  const after = await log.read(0, 100);
  assert.deepEqual(after.map((entry) => entry.seq), [2, 5, 6, 7]);
  assert.deepEqual(stateOf(after), stateOf(before));
  // A reader that had read up to seq 3 before the compaction carries on from there.
  assert.deepEqual(stateOf([...before.slice(0, 3), ...(await log.read(3, 100))]), stateOf(before));
  assert.equal(log.head, 7);
  assert.equal(await log.compact(), 0);

  // Reopened: the same head, compacted again at open, and appends carry on after the head.
  const reopened = await ChangeLog.open(store);
  await reopened.compacted();
  assert.equal(reopened.head, 7);
  await reopened.append(write("registry/repo/a/tag/v2", "m4", 8));
  assert.deepEqual((await reopened.read(0, 100)).map((entry) => entry.seq), [2, 5, 6, 7, 8]);
  await reopened.compact();
  assert.deepEqual((await reopened.read(0, 100)).map((entry) => entry.seq), [5, 6, 7, 8]);
});
