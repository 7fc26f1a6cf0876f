/**
 * The registry's benchmark, side by side with Debian's docker-registry (CNCF distribution) in
 * the same run: push and pull times of the dataset images with skopeo, bytes on disk, one large
 * layer's time to first byte and throughput, 8 concurrent pulls with each server's peak memory,
 * and `docker pull` / `docker push` times through a real dockerd.
 *
 *   npm run build && node dist/bench/registry.js [--dataset DIR] [--no-docker] [--tags minbase,node]
 *
 * `--tags` pushes and pulls only those images (a quick try; the figures are for all five).
 *
 * Needs the dataset (bench/dataset/build.sh), skopeo and docker-registry (Debian packages); for
 * the docker figures root, dockerd (docker.io), setpriv, unshare and ip. Then the whole benchmark
 * re-runs itself inside new network, PID and mount namespaces (`unshare`) holding only `lo`:
 * both registries and dockerd live there, so nothing can leave the machine and no daemon can
 * outlive the run. DOCKER_DEDUP_BENCH_DOCKER_STORAGE picks dockerd's storage driver (overlay2).
 * The rigging is bench/rig.ts, shared with bench/gzip.ts.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_DATASET, dockerStorage, dockerFiguresWanted, MiB, option, peakRss, pull, Rig, seconds, skopeo, TAGS, timedGet, type Target } from "./rig.js";

const args = process.argv.slice(2);
const DATASET = option(args, "--dataset") ?? DEFAULT_DATASET;
const IMAGES = option(args, "--tags")?.split(",") ?? TAGS;
const ALL = IMAGES.length === TAGS.length ? "all five" : `all ${IMAGES.length}`;
/** The image the concurrent pulls fetch: node, unless --tags left it out. */
const CONCURRENT = IMAGES.includes("node") ? "node" : IMAGES[IMAGES.length - 1]!;

const withDocker = dockerFiguresWanted(import.meta.url, args);

const rig = new Rig("docker-dedup-registry-bench-");

/**
 * `docker pull` of each dataset image from both registries, each into an empty docker (the image
 * and its layers are removed after every pull), and `docker push` of the pulled image, gzipped by
 * dockerd, to the *other* registry under ds/docker-push. Two dockerds: one pulls from
 * distribution and pushes to docker-dedup, the other the reverse. A dockerd remembers which
 * registry holds which layer and mounts instead of uploading when it can, so one that had pulled
 * from a registry would not really push to it.
 */
async function dockerTimings(ref: Target, ours: Target) {
  const hosts = [ref.host, ours.host];
  const dockers = new Map([[ref, await rig.startDockerd("docker-a", hosts)], [ours, await rig.startDockerd("docker-b", hosts)]]);
  console.log(`\n| docker (dockerd 20.10, ${dockerStorage()}) | pull: distribution | pull: docker-dedup | push (gzip): distribution | push (gzip): docker-dedup |\n|---|---|---|---|---|`);
  const totals = [0, 0, 0, 0];
  for (const tag of IMAGES) {
    const pulls = new Map<Target, number>();
    const pushes = new Map<Target, number>();
    const pairs = [[ref, ours], [ours, ref]] as const;
    // Both pulls before both pushes: docker-dedup's decoded-chunk cache then holds no gzip chunks
    // of this image's push when it serves the pull.
    for (const [from] of pairs) {
      const docker = dockers.get(from)!;
      if (docker.images() !== "") throw new Error(`docker still holds images: ${docker.images()}`);
      pulls.set(from, docker(["pull", "-q", `${from.host}/ds/debian:${tag}`]));
    }
    for (const [from, to] of pairs) {
      const docker = dockers.get(from)!;
      const source = `${from.host}/ds/debian:${tag}`;
      const target = `${to.host}/ds/docker-push:${tag}`;
      docker(["tag", source, target]);
      pushes.set(to, docker(["push", "-q", target]));
      docker(["rmi", source, target]); // the image and its layers: the next pull starts empty
    }
    const row = [pulls.get(ref)!, pulls.get(ours)!, pushes.get(ref)!, pushes.get(ours)!];
    row.forEach((t, i) => (totals[i]! += t));
    console.log(`| ${tag} | ${row.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
  }
  console.log(`| ${ALL} | ${totals.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
}

try {
  execFileSync("sh", ["-c", `cat ${DATASET}/layers/* > /dev/null`]); // same warm source for every push
  const ours = await rig.startDockerDedup();
  const reference = await rig.startReference("distribution 2.8 (uncompressed layers)");
  const referenceGzip = await rig.startReference("distribution 2.8 (gzip layers)");
  const targets = [reference, ours];
  console.log("| image | push: distribution | push: docker-dedup | pull: distribution | pull: docker-dedup |");
  console.log("|---|---|---|---|---|");
  const totals = { pushRef: 0, pushOurs: 0, pullRef: 0, pullOurs: 0 };
  for (const tag of IMAGES) {
    const dir = `dir:${join(DATASET, "images", tag)}`;
    const push = targets.map((t) => skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", dir, `docker://${t.host}/ds/debian:${tag}`]));
    skopeo(["copy", "-q", "--dest-tls-verify=false", dir, `docker://${referenceGzip.host}/ds/debian:${tag}`]);
    const pullTimes = targets.map((t) => {
      const out = join(rig.scratch, `pull-${t.name.length}-${tag}`);
      const time = skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${t.host}/ds/debian:${tag}`, `dir:${out}`]);
      rmSync(out, { recursive: true, force: true });
      return time;
    });
    totals.pushRef += push[0]!;
    totals.pushOurs += push[1]!;
    totals.pullRef += pullTimes[0]!;
    totals.pullOurs += pullTimes[1]!;
    console.log(`| ${tag} | ${push[0]!.toFixed(2)} s | ${push[1]!.toFixed(2)} s | ${pullTimes[0]!.toFixed(2)} s | ${pullTimes[1]!.toFixed(2)} s |`);
  }
  console.log(`| ${ALL} | ${totals.pushRef.toFixed(2)} s | ${totals.pushOurs.toFixed(2)} s | ${totals.pullRef.toFixed(2)} s | ${totals.pullOurs.toFixed(2)} s |`);

  console.log(`\n| bytes on disk for the ${IMAGES.length === TAGS.length ? "five" : IMAGES.length} images | MiB |\n|---|---|`);
  for (const t of [reference, referenceGzip, ours]) console.log(`| ${t.name} | ${(t.diskBytes() / MiB).toFixed(1)} |`);

  const manifest = JSON.parse(readFileSync(join(DATASET, "images", "minbase", "manifest.json"), "utf8"));
  const big = manifest.layers[0].digest as string;
  console.log(`\n| GET of the ${(manifest.layers[0].size / MiB).toFixed(1)} MiB minbase layer | time to first byte | MB/s |\n|---|---|---|`);
  for (const t of targets) {
    for (const pass of ["first", "second"]) {
      const r = await timedGet(t, big);
      console.log(`| ${t.name}, ${pass} GET | ${r.ttfbMs.toFixed(1)} ms | ${r.mbps.toFixed(0)} |`);
    }
  }

  console.log(`\n| 8 concurrent pulls of ds/debian:${CONCURRENT} (fetch, digests checked) | wall | server peak RSS |\n|---|---|---|`);
  for (const t of targets) {
    const start = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => pull(t, CONCURRENT)));
    console.log(`| ${t.name} | ${seconds(start).toFixed(2)} s | ${(peakRss(t.pid) / MiB).toFixed(0)} MiB |`);
  }

  // Last, so that the gzip layers docker pushes change none of the figures above.
  if (withDocker) await dockerTimings(reference, ours);
} finally {
  await rig.cleanup();
}
