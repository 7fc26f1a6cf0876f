import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { openStore } from "../../src/store/open.js";
import { tempDir } from "../helpers.js";

/**
 * The embedded store opened by two threads of one process (`add` ingests in worker threads while
 * the main thread reads): a commit is visible to the other thread's next read, even one in the
 * same event turn as a read from before the commit.
 */

/** A thread that opens the store and, when told, commits a recipe and a metadata record, then wakes the waiting main thread. */
const WRITER = `
const { parentPort, workerData } = require("node:worker_threads");
(async () => {
  const { openStore } = await import(workerData.openUrl);
  const store = await openStore(workerData.dir, {});
  const done = new Int32Array(workerData.done);
  parentPort.on("message", async () => {
    await store.putRecipe({ digest: workerData.digest, size: 3, ids: [Buffer.alloc(32, 7)], lengths: Uint32Array.of(3) });
    await store.putMeta("late/key", Buffer.from("late"));
    await store.close();
    Atomics.store(done, 0, 1);
    Atomics.notify(done, 0);
  });
  parentPort.postMessage("ready");
})();
`;

test("a read right after another thread's commit sees it, though a read of the same turn came before", async (t) => {
  const dir = join(await tempDir(t), "store");
  const store = await openStore(dir, { create: true });
  t.after(() => store.close());
  const digest = `sha256:${"ab".repeat(32)}`;
  const done = new SharedArrayBuffer(4);
  const worker = new Worker(WRITER, { eval: true, workerData: { openUrl: new URL("../../src/store/open.js", import.meta.url).href, dir, digest, done } });
  t.after(() => worker.terminate());
  await new Promise((resolve) => worker.once("message", resolve));

  assert.equal(await store.getRecipe(digest), undefined);
  assert.equal(await store.getMeta("late/key"), undefined);
  // Blocks this thread, in this turn, until the other has committed: no timer can run meanwhile.
  worker.postMessage("write");
  Atomics.wait(new Int32Array(done), 0, 0);
  assert.equal((await store.getRecipe(digest))?.size, 3, "the recipe committed by the other thread");
  assert.equal((await store.getMeta("late/key"))?.toString(), "late");
});
