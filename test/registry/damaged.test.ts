import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sliceOf } from "../../src/store/codec.js";
import { openStore } from "../../src/store/open.js";
import { startCassandra, type CassandraCluster } from "../cassandra/servers.js";
import { randomBytes, tempDir } from "../helpers.js";
import { startRedis, type RedisServer } from "../redis/servers.js";
import { pushBlob, serveCli } from "./harness.js";

/**
 * A damaged store never hands out a complete-looking wrong blob: a blob whose chunks were damaged
 * on disk (or in Redis, or in Cassandra) is cut short, so curl, which knows the Content-Length,
 * fails; nothing else tells a client that does not check digests.
 */

interface Backend {
  /** A fresh store location. */
  store(t: { after(fn: () => unknown): void }): Promise<string>;
}

/** curl's exit status and the bytes it received. */
function curl(url: string): Promise<{ code: number | null; bytes: number }> {
  return new Promise((resolve) => {
    const child = spawn("curl", ["-sS", "-o", "-", url], { stdio: ["ignore", "pipe", "ignore"] });
    let bytes = 0;
    child.stdout.on("data", (piece: Buffer) => (bytes += piece.length));
    child.on("close", (code) => resolve({ code, bytes }));
  });
}

let stores = 0;
const backends: [string, () => Backend][] = [
  ["embedded", () => ({ store: async (t) => join(await tempDir(t), "store") })],
  [
    "redis",
    () => {
      let server: RedisServer | undefined;
      before(async () => void (server = await startRedis()));
      after(() => server?.stop());
      return { store: async () => `${server!.url}?prefix=damaged${++stores}` };
    },
  ],
  [
    "cassandra",
    () => {
      let server: CassandraCluster | undefined;
      before(async () => void (server = await startCassandra()), { timeout: 300_000 });
      after(() => server?.stop());
      return { store: async () => server!.url(`damaged${++stores}`) };
    },
  ],
];

for (const [name, setUp] of backends) {
  describe(`a damaged store (${name})`, () => {
    const backend = setUp();

    it("cuts the blob short instead of sending wrong bytes as a complete 200", async (t) => {
      const location = await backend.store(t);
      // Past the first read batch (4 MiB): once bytes went out, only cutting the blob short can tell.
      const layer = randomBytes(24 << 20, 91);
      let digest: string;
      {
        const writer = await serveCli(t, ["--store", location]);
        digest = await pushBlob(writer.url, "team/damaged", layer);
        writer.child.kill("SIGTERM");
        await writer.exited;
      }
      // Two chunks in the middle of the blob get two 64-byte regions of other bytes, as a disk error
      // would: where their bytes are stored, in the runs they are slices of (the layer does not
      // compress, so a run is kept raw: codec byte, then the chunks' bytes).
      const store = await openStore(location);
      const recipe = (await store.getRecipe(digest))!;
      const ids = [recipe.ids[Math.floor(recipe.ids.length / 3)]!, recipe.ids[Math.floor((2 * recipe.ids.length) / 3)]!];
      const places = (await store.getChunks(ids)).map((data, i) => {
        const slice = sliceOf(data!);
        return slice === undefined ? { id: ids[i]!, middle: Math.floor(data!.length / 2) } : { id: slice.run, middle: 1 + slice.offset + Math.floor(slice.length / 2) };
      });
      const stored = await store.getChunks(places.map((p) => p.id));
      await store.replaceChunks(
        places.map(({ id, middle }, i) => {
          const damaged = Buffer.from(stored[i]!);
          for (let k = 0; k < 64; k++) damaged[middle + k]! ^= 0x5a;
          return { id, data: damaged };
        }),
      );
      await store.close();

      // A fresh server: nothing of the blob is in its memory.
      const reader = await serveCli(t, ["--store", location]);
      const { code, bytes } = await curl(`${reader.url}/v2/team/damaged/blobs/${digest}`);
      assert.notEqual(code, 0, "curl fails");
      assert.ok(bytes < layer.length, `received ${bytes} of ${layer.length} bytes`);
      assert.match(reader.stderr(), /damaged|corrupt|got sha256/i, "and the server says why");
    });
  });
}
