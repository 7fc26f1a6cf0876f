import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { randomBytes, runCli, tempDir } from "../helpers.js";
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, serveCli, sha256, type ServeProcess } from "../registry/harness.js";

/**
 * Garbage collection under fire: a client pushes images, deletes some, pushes some again, while
 * serve collects every few hundred milliseconds with a short grace period, and serve is killed
 * with SIGKILL at random moments, 50 times over one store. Afterwards every blob whose push was
 * acknowledged and that is still referenced pulls back byte-exact, `verify` passes, and once
 * everything is deleted and collected the store takes under 5% of the disk it took at its peak.
 */

const ROUNDS = Number(process.env.DOCKER_DEDUP_GC_ROUNDS ?? 50);

/** A deterministic stream of choices. */
function chooser(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

interface Image {
  tag: string;
  manifest: string;
  layers: Buffer[];
  config: Buffer;
}

function makeImage(tag: string, base: Buffer, seed: number): Image {
  // Layers share a base, so collecting one image's chunks must leave the others' shared ones.
  const layers = [Buffer.concat([base.subarray(0, 300_000 + (seed % 5) * 50_000), randomBytes(3_000_000, seed)]), randomBytes(1_000_000 + seed * 7, seed + 1000)];
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", seed }));
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
  });
  return { tag, manifest, layers, config };
}

/** Pushes an image: true once its tag is acknowledged. Any failure (the server was killed) is false. */
async function push(url: string, image: Image): Promise<boolean> {
  try {
    for (const blob of [image.config, ...image.layers]) {
      const res = await fetch(`${url}/v2/camp/app/blobs/uploads/?digest=${sha256(blob)}`, { method: "POST", body: new Uint8Array(blob) });
      if (res.status !== 201) return false;
    }
    const res = await fetch(`${url}/v2/camp/app/manifests/${image.tag}`, { method: "PUT", body: image.manifest, headers: { "Content-Type": OCI_MANIFEST } });
    return res.status === 201;
  } catch {
    return false;
  }
}

/**
 * Deletes an image: its manifest (and so its tag), then its blobs' links. True once all of it
 * was acknowledged (a part already gone counts); false if it may or may not have happened.
 */
async function remove(url: string, image: Image): Promise<boolean> {
  try {
    for (const path of [`manifests/${sha256(image.manifest)}`, ...[image.config, ...image.layers].map((blob) => `blobs/${sha256(blob)}`)]) {
      const status = (await fetch(`${url}/v2/camp/app/${path}`, { method: "DELETE" })).status;
      if (status !== 202 && status !== 404) return false;
    }
    return true;
  } catch {
    return false;
  }
}

const du = (path: string) => Number(execFileSync("du", ["-sb", path], { encoding: "utf8" }).split("\t")[0]);

test(`garbage collection campaign: push, delete, push again, collect, SIGKILL x${ROUNDS}`, { timeout: 1_800_000 }, async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, "store");
  const pick = chooser(20261205);
  const base = randomBytes(2_000_000, 7);
  const images = Array.from({ length: 12 }, (_, i) => makeImage(`v${i}`, base, i + 1));
  /** Images whose latest acknowledged operation was a push; those in doubt (a delete cut off) are neither. */
  const referenced = new Set<Image>();
  const inDoubt = new Set<Image>();
  let peak = 0;
  /** Collections that deleted blobs while the client pushed and deleted. */
  let collections = 0;
  const serve = (extra: string[] = []) => serveCli(t, ["--store", store, "--gc-interval", "150ms", "--gc-grace", "400ms", ...extra]);

  for (let round = 0; round < ROUNDS; round++) {
    const server: ServeProcess = await serve();
    const work = (async () => {
      for (let step = 0; step < 6; step++) {
        const image = images[pick(images.length)]!;
        if (pick(3) === 0 && (referenced.has(image) || inDoubt.has(image))) {
          const done = await remove(server.url, image);
          referenced.delete(image);
          if (done) inDoubt.delete(image);
          else inDoubt.add(image);
        } else if (await push(server.url, image)) {
          referenced.add(image);
          inDoubt.delete(image);
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100 + pick(900)));
    server.child.kill("SIGKILL");
    await server.exited;
    await work;
    collections += (server.stderr().match(/gc: blobs: .* [1-9]\d* deleted/g) ?? []).length;
    peak = Math.max(peak, du(store));
  }

  // Serve once more, unkilled: every referenced image pulls back byte-exact.
  const last = await serve();
  for (const image of referenced) {
    const manifest = await fetch(`${last.url}/v2/camp/app/manifests/${image.tag}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200, `${image.tag}: ${last.stderr()}`);
    assert.equal(await manifest.text(), image.manifest);
    for (const blob of [image.config, ...image.layers]) {
      const res = await fetch(`${last.url}/v2/camp/app/blobs/${sha256(blob)}`);
      assert.equal(res.status, 200, `${image.tag} ${sha256(blob)}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob), `${image.tag}: a blob byte-exact`);
    }
  }
  assert.doesNotMatch(last.stderr(), /bug:/);
  last.child.kill("SIGTERM");
  await last.exited;
  const verify = await runCli(["verify", "--store", store]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // Everything deleted, then collected: the disk shrinks to a few percent of its peak.
  const final = await serve(["--gc-interval", "0"]);
  for (const image of images) await remove(final.url, image);
  final.child.kill("SIGTERM");
  await final.exited;
  // Three collections: the blobs and their chunks doomed; the chunks deleted, and the runs that
  // hold their bytes doomed (a run outlives its last live slice by a collection: ARCHITECTURE.md);
  // the runs deleted.
  for (let i = 0; i < 3; i++) {
    const gc = await runCli(["gc", "--store", store, "--grace", "0s"]);
    assert.equal(gc.code, 0, gc.stderr);
  }
  const after = du(store);
  const left = async () => `${(await runCli(["stats", "--json", "--store", store])).stdout}\n${execFileSync("ls", ["-la", store, join(store, "packs")], { encoding: "utf8" })}`;
  assert.ok(after < peak * 0.05, `disk ${after} bytes after collecting everything, peak ${peak}; left:\n${await left()}`);
  t.diagnostic(`peak ${peak} bytes, after deleting everything and collecting: ${after} bytes (${((100 * after) / peak).toFixed(1)}%); ${referenced.size} images still referenced were checked; ${collections} collections deleted blobs during the rounds`);
});
