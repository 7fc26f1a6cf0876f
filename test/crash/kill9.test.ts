import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { CLI, randomBytes, runCli, tempDir } from "../helpers.js";
import { gzipWith } from "../deflate/gzipper.js";
import { realTar } from "../deflate/zlib-inputs.js";

/**
 * Kills `docker-dedup add` with SIGKILL at varied moments, several times over the same store.
 * Every digest the CLI printed before it died was acknowledged (its chunks, recipe and sync
 * completed), so afterwards `verify` must pass and every one of them must check out byte-exact.
 */
test("SIGKILL in the middle of ingests loses no acknowledged blob", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  const files: string[] = [];
  const shared = randomBytes(3_000_000, 99);
  for (let i = 0; i < 24; i++) {
    const file = join(dir, `layer-${i}.tar`);
    // Half shared content, half unique, so later ingests both reuse and add chunks.
    await writeFile(file, Buffer.concat([shared.subarray(0, 1_000_000 + i * 50_000), randomBytes(2_500_000, i + 1)]));
    files.push(file);
  }
  const acknowledged = new Map<string, string>();
  // Each round kills the process a few milliseconds after its Nth acknowledgment, while the
  // next blob is being chunked, compressed or committed.
  const rounds = [
    { afterAcks: 1, delayMs: 0 },
    { afterAcks: 2, delayMs: 5 },
    { afterAcks: 1, delayMs: 20 },
    { afterAcks: 3, delayMs: 2 },
    { afterAcks: 2, delayMs: 40 },
    { afterAcks: 4, delayMs: 10 },
  ];
  for (const [round, { afterAcks, delayMs }] of rounds.entries()) {
    const order = files.slice(round * 4).concat(files.slice(0, round * 4));
    const child = spawn(process.execPath, [CLI, "add", "--store", store, ...order], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let killed = false;
    child.stdout.on("data", (d) => {
      out += d;
      if (!killed && out.split("\n").length - 1 >= afterAcks) {
        killed = true;
        setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on("close", (c, s) => resolve([c, s])));
    assert.equal(signal, "SIGKILL", `round ${round} was killed mid-run (exit ${code})`);
    for (const line of out.split("\n")) {
      const match = /^(sha256:[0-9a-f]{64})  (.+)$/.exec(line);
      if (match) acknowledged.set(match[1]!, match[2]!);
    }
  }
  assert.ok(acknowledged.size > 0, "some ingests completed before the kills");

  const verify = await runCli(["verify", "--store", store]);
  assert.equal(verify.code, 0, `verify after kills:\n${verify.stdout}${verify.stderr}`);
  for (const [digest, file] of acknowledged) {
    const out = await runCli(["checkout", "--store", store, digest]);
    assert.equal(out.code, 0, out.stderr);
    const original = await readFile(file);
    assert.equal(`sha256:${createHash("sha256").update(Buffer.from(out.stdout, "latin1")).digest("hex")}`, digest);
    assert.ok(Buffer.from(out.stdout, "latin1").equals(original), `${digest} byte-exact`);
  }
  // The store still takes new blobs after all that.
  const after = await runCli(["add", "--store", store, files[0]!]);
  assert.equal(after.code, 0, after.stderr);
});

/**
 * Kills `docker-dedup add` of gzip layers with SIGKILL at varied moments after their
 * acknowledgment, while their conversion to content (inflate, ingest, proof, form, the recipe's
 * deletion) runs in the background; then one more `add` finishes what was left. Every
 * acknowledged layer must check out byte-exact after every round, and at the end every one is
 * stored as its content and `verify` passes.
 */
test("SIGKILL during gzip conversions, repeated, loses no acknowledged layer", async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  const files: string[] = [];
  const encoders = [
    { encoder: "stdlib", level: 6 },
    { encoder: "pgzip", level: -1, block: 1 << 20 },
    { encoder: "stdlib", level: 1 },
    { encoder: "pgzip", level: -1, block: 256 << 10 },
  ] as const;
  const tar = await realTar(dir, 8 << 20);
  for (let i = 0; i < 8; i++) {
    const file = join(dir, `layer-${i}.tar.gz`);
    // Overlapping slices of one tar: the layers share content, as the layers of an image family do.
    await writeFile(file, await gzipWith(encoders[i % encoders.length]!, tar.subarray(i * 500_000, i * 500_000 + (3 << 20))));
    files.push(file);
  }
  const acknowledged = new Map<string, string>();
  const checkAll = async (when: string) => {
    for (const [digest, file] of acknowledged) {
      const out = await runCli(["checkout", "--store", store, digest]);
      assert.equal(out.code, 0, `${when}: ${out.stderr}`);
      assert.ok(Buffer.from(out.stdout, "latin1").equals(await readFile(file)), `${when}: ${digest} byte-exact`);
    }
  };
  for (let round = 0; round < 12; round++) {
    const order = files.slice(round % files.length).concat(files.slice(0, round % files.length)).slice(0, 3);
    const child = spawn(process.execPath, [CLI, "add", "--store", store, ...order], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killed = false;
    const kill = () => {
      if (killed) return;
      killed = true;
      // Some rounds die in the inflate and ingest of the content, some in the proof, some right around the swap.
      setTimeout(() => child.kill("SIGKILL"), [0, 30, 120, 400][round % 4]);
    };
    child.stdout.on("data", (d) => {
      out += d;
      if (round % 2 === 0 && out.split("\n").length - 1 >= 1) kill();
    });
    child.stderr.on("data", (d) => {
      err += d;
      if (round % 2 === 1 && /stored as its content/.test(err)) kill();
    });
    const [code] = await new Promise<[number | null]>((resolve) => child.on("close", (c) => resolve([c])));
    for (const line of out.split("\n")) {
      const match = /^(sha256:[0-9a-f]{64})  (.+)$/.exec(line);
      if (match) acknowledged.set(match[1]!, match[2]!);
    }
    assert.ok(killed || code === 0, `round ${round}: exit ${code}: ${err}`);
    await checkAll(`after round ${round}`);
  }
  assert.ok(acknowledged.size > 0, "some layers were acknowledged before the kills");

  // One more add finishes the conversions the kills interrupted.
  const last = await runCli(["add", "--store", store, files[0]!]);
  assert.equal(last.code, 0, last.stderr);
  const stats = JSON.parse((await runCli(["stats", "--json", "--store", store])).stdout) as { gzip: { asContent: number; pending: number; kept: unknown[] } };
  assert.equal(stats.gzip.pending, 0);
  assert.deepEqual(stats.gzip.kept, []);
  assert.ok(stats.gzip.asContent >= acknowledged.size, `${stats.gzip.asContent} layers stored as content`);
  const verify = await runCli(["verify", "--store", store]);
  assert.equal(verify.code, 0, `verify after kills:\n${verify.stdout}${verify.stderr}`);
  await checkAll("at the end");
});
