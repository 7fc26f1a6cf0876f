import { chunkIdOf } from "../../src/store/chunk-id.js";
import { openStore } from "../../src/store/open.js";

/**
 * A frontend's start, in a process of its own as a real one is: `node open-child.js URL` opens
 * the store as `serve` does (creating it if it is missing), uses each of its tables once, and
 * exits 0; on any failure it prints the error and exits 1. The start-race test in
 * test/store/cassandra.test.ts runs two at once on a new keyspace.
 */
const url = process.argv[2];
// `node --test dist/test/` runs every file below test/, this one too, without a URL: nothing to start then.
if (url !== undefined) await start(url);

async function start(url: string): Promise<void> {
  try {
    const store = await openStore(url, { create: true });
    const data = Buffer.from(`a chunk of frontend ${process.pid}`);
    const id = chunkIdOf(data);
    await store.putChunks([{ id, data }]);
    const [back] = await store.getChunks([id]);
    if (back === undefined || !Buffer.from(back).equals(data)) throw new Error("the chunk just written does not read back");
    await store.putMeta(`started/${process.pid}`, Buffer.from("yes"));
    await store.getRecipe(`sha256:${"0".repeat(64)}`);
    await store.close();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
