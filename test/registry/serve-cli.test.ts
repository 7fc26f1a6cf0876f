import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { CLI, runCli, tempDir } from "../helpers.js";
import { pushBlob } from "./harness.js";

/** Starts `docker-dedup serve` on a free port; resolves with its URL once it listens. */
async function serve(t: { after(fn: () => unknown): void }, store: string): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, "serve", "--store", store, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => child.kill("SIGKILL"));
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (data) => {
      stderr += data;
      const match = /registry listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.on("exit", () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { url, child, exited };
}

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
