import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers.js";
import { pushBlob, serveCli } from "./harness.js";

/** `docker-dedup serve` on a free port over `store`. */
const serve = (t: { after(fn: () => unknown): void }, store: string) => serveCli(t, ["--store", store]);

test("serve: listens, answers, stops cleanly on SIGTERM, and keeps its state across restarts", async (t) => {
  const store = join(await tempDir(t), "store");
  const first = await serve(t, store);
  const res = await fetch(`${first.url}/v2/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
  const digest = await pushBlob(first.url, "persist/me", Buffer.from("still here after a restart"));
  first.child.kill("SIGTERM");
  assert.equal(await first.exited, 0);

  const second = await serve(t, store);
  const again = await fetch(`${second.url}/v2/persist/me/blobs/${digest}`);
  assert.equal(await again.text(), "still here after a restart");
  assert.deepEqual(await (await fetch(`${second.url}/v2/_catalog`)).json(), { repositories: ["persist/me"] });
  second.child.kill("SIGINT");
  assert.equal(await second.exited, 0);
});

test("serve: a bad --listen or a taken port is one clear line, no stack trace", async (t) => {
  const store = join(await tempDir(t), "store");
  for (const listen of ["nonsense", "127.0.0.1:99999", "127.0.0.1:"]) {
    const result = await runCli(["serve", "--store", store, "--listen", listen]);
    assert.equal(result.code, 1, listen);
    assert.match(result.stderr, /^docker-dedup: bad --listen/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
  const running = await serve(t, join(await tempDir(t), "other"));
  const taken = await runCli(["serve", "--store", store, "--listen", new URL(running.url).host]);
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /cannot listen on .*address already in use/);
  assert.doesNotMatch(taken.stderr, /\n\s+at /);
});
