/**
 * gzip layers in docker-dedup, side by side with Debian's docker-registry (CNCF distribution 2.8)
 * holding the same gzip images, in one run:
 *
 *   node dist/bench/gzip.js [--dataset DIR] [--no-docker] [--parts disk,pull,get,clients,recreate] [--tags minbase,python]
 *
 * `--parts` picks what runs after the pushes (which always run: the rest reads their stores);
 * `--tags` pushes and pulls only those images (a quick try). Needs the dataset (bench/dataset/build.sh), skopeo, docker-registry, curl, python3 and Go (the
 * gzipper of scripts/gzip-vectors, for the Go level 1 layer); for the docker figures root,
 * dockerd (docker.io 20.10), setpriv, unshare and ip: the whole benchmark then re-runs itself in
 * new network, PID and mount namespaces holding only `lo` (bench/rig.ts, shared with
 * bench/registry.ts). About 15 minutes on 2 busy cores (`--tags minbase --parts disk`: about a minute).
 *
 * What it measures:
 *
 * - Push and disk ("disk", always run: the other parts read its stores). The five dataset images
 *   go to three fresh docker-dedup stores: U uncompressed (`skopeo copy --preserve-digests
 *   dir:… docker://…`), S gzip by skopeo's default compression (pgzip; the same copy without
 *   --preserve-digests), D gzip by `docker push` (Go's compress/gzip level 6: dockerd pulls each
 *   image from U, tags it and pushes it), and the same gzip pushes go to a distribution each (and
 *   U's to a third). Push time is the client's, skopeo's blob-info cache deleted before every
 *   copy; the two registries take turns going first. After each push to docker-dedup the bench
 *   waits until serve logged the end of every gzip layer's conversion ("gzip <digest>: stored as
 *   its content … (<encoder>)"), so no background conversion runs under the next timing; that
 *   wait is the "convert" column. Then the stores are stopped, `docker-dedup gc --grace 0s` runs
 *   twice (the first dooms the compressed bytes' chunks, the second deletes them and rewrites
 *   packs under half live), and `du` gives each store's bytes without its gzip-cache directory,
 *   which is reported apart; with `stats --json`'s gzip counts and the encoders serve logged.
 * - docker pull ("pull"): each docker-pushed (D) and skopeo-pushed (S) image pulled into an empty
 *   dockerd (image and layers removed after every pull), cold and then warm, from docker-dedup
 *   and from the distribution holding the same gzip image. Cold: before each image both servers
 *   are stopped, docker-dedup's gzip cache directory is emptied, the page cache dropped (`sync;
 *   echo 3 > /proc/sys/vm/drop_caches`) and both started again; the pulls wait until serve
 *   logged the end of its start-up warm-up of the gzip encoders (a second or two: the state of a
 *   server up for longer, whose first pull of a layer is the cold case that matters). Warm: the
 *   same pull right after (docker-dedup's gzip cache then holds the layers).
 * - GET of every layer ("get"): each distinct gzip layer of the D and S images by curl (bytes
 *   thrown away, the size checked; docker-dedup checks the digest before the last byte goes out),
 *   cold (stopped, gzip cache emptied, page cache dropped, started) and warm; MB/s of gzip bytes.
 * - Clients at once ("clients"): 8 curl clients GETting every distinct gzip layer at once (client
 *   i starting at layer i), cold as above: a deployment's nodes pulling one image. Wall time of
 *   the last to finish, serve's CPU seconds, and its gzip cache's counts (reads that followed
 *   another's re-creation under way).
 * - Re-creation per encoder family ("recreate"): the largest layer (minbase's 170 MB tar) gzipped
 *   by docker push (Go level 6), skopeo (pgzip, 1 MiB blocks), Go level 1 (gzipper, as crane, ko
 *   and kaniko) and zlib levels 6 and 9 (CPython's gzip.compress over the system zlib), pushed as
 *   images to a docker-dedup serving with `--gzip-cache-mb 0` (every GET re-creates) and to a
 *   distribution; then GETs after a restart with the page cache dropped, and again (chunks in
 *   serve's decoded-chunk cache): MB/s of gzip bytes out, serve's CPU seconds and CPU/wall (the
 *   cores it kept busy); beside it what the real encoder does on one core (Go with GOMAXPROCS=1,
 *   Python's time inside compress()).
 *
 * Every table is headed with the time and load average; the machine is shared, so the load is
 * given per row where it matters.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { gzipperPath } from "../test/deflate/gzipper.js";
import {
  clientsGetting,
  cpuSeconds,
  curlGet,
  DEFAULT_DATASET,
  dockerStorage,
  dropCaches,
  dockerFiguresWanted,
  fetchAgain,
  manifest,
  MiB,
  option,
  peakRss,
  Rig,
  skopeo,
  TAGS,
  when,
  type Descriptor,
  type Docker,
  type DockerDedup,
  type Reference,
} from "./rig.js";

const args = process.argv.slice(2);
const DATASET = option(args, "--dataset") ?? DEFAULT_DATASET;
const PARTS = new Set((option(args, "--parts") ?? "disk,pull,get,clients,recreate").split(","));
/** Clients GETting at once, in the "clients" part. */
const CLIENTS = 8;
/** Images (a subset for a quick try: the figures are for all five). */
const IMAGES = option(args, "--tags")?.split(",") ?? TAGS;
const MB = 1e6;

const withDocker = dockerFiguresWanted(import.meta.url, args);

const rig = new Rig("docker-dedup-gzip-bench-");
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const ratio = (ours: number, ref: number) => `${fmt(ours / ref)}x`;
const mib = (bytes: number) => fmt(bytes / MiB, 1);
const short = (digest: string) => digest.slice(7, 19);
const load = () => fmt(Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]), 1);

/** "go L6", "pgzip L5 1024K", "zlib L9": an encoder as serve logged it, shortened. */
function family(detail: string | undefined): string {
  if (detail === undefined) return "?";
  const level = /level (\d+)/.exec(detail)?.[1] ?? "?";
  if (detail.startsWith("go-flate")) return `go L${level}`;
  if (detail.startsWith("pgzip")) return `pgzip L${level} ${/(\d+) KiB blocks/.exec(detail)?.[1] ?? "?"}K`;
  if (detail.startsWith("zlib")) return `zlib L${level}`;
  return detail;
}

/** The gzip layers of repo:tag on a docker-dedup (by their first two bytes, not the media type). */
async function gzipLayers(dd: DockerDedup, repo: string, tag: string): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for (const layer of (await manifest(dd, repo, tag)).layers) {
    const res = await fetchAgain(`${dd.url}/v2/${repo}/blobs/${layer.digest}`, { headers: { range: "bytes=0-1" } });
    const magic = Buffer.from(await res.arrayBuffer());
    if (magic[0] === 0x1f && magic[1] === 0x8b) out.push(layer);
  }
  return out;
}

/** Seconds from `since` until serve logged the end of the conversion of every gzip layer of repo:tag (0 if it had ended before). */
async function settle(dd: DockerDedup, repo: string, tag: string, since: number): Promise<number> {
  const layers = await gzipLayers(dd, repo, tag);
  const end = await dd.converted(layers.map((l) => l.digest));
  return Math.max(0, (end - since) / 1000);
}

interface Servers {
  U: DockerDedup;
  S: DockerDedup;
  D: DockerDedup | undefined;
  refU: Reference;
  refS: Reference;
  refD: Reference | undefined;
}

/** (a, b) Pushes of the five images, push times, conversions, then disk after garbage collection. */
async function pushAndDisk(s: Servers): Promise<void> {
  const { U, S, D, refU, refS, refD } = s;
  console.log(`\n## Push (${when()})\n`);
  console.log("skopeo copy of each image: U and distribution (U) with --preserve-digests (uncompressed), S and distribution (S) with skopeo's default gzip; the convert column is how long after the push docker-dedup logged the end of the image's gzip conversions.\n");
  console.log("| image | uncompressed: distribution | uncompressed: docker-dedup U | skopeo gzip: distribution | skopeo gzip: docker-dedup S | ratio | convert (S) | load |");
  console.log("|---|---|---|---|---|---|---|---|");
  const total = { u: [0, 0], s: [0, 0], conv: 0 };
  for (const [i, tag] of IMAGES.entries()) {
    const row = load();
    const dir = `dir:${join(DATASET, "images", tag)}`;
    const u = [refU, U].map((t) => skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", dir, `docker://${t.host}/ds/debian:${tag}`]));
    let conv = 0;
    const times = new Map<string, number>();
    for (const t of i % 2 === 0 ? [refS, S] : [S, refS]) {
      times.set(t.name, skopeo(["copy", "-q", "--dest-tls-verify=false", dir, `docker://${t.host}/ds/debian:${tag}`]));
      if (t === S) conv = await settle(S, "ds/debian", tag, performance.now());
    }
    const sRef = times.get(refS.name)!;
    const sOurs = times.get(S.name)!;
    total.u[0]! += u[0]!;
    total.u[1]! += u[1]!;
    total.s[0]! += sRef;
    total.s[1]! += sOurs;
    total.conv += conv;
    console.log(`| ${tag} | ${fmt(u[0]!)} s | ${fmt(u[1]!)} s | ${fmt(sRef)} s | ${fmt(sOurs)} s | ${ratio(sOurs, sRef)} | ${fmt(conv, 1)} s | ${row} |`);
  }
  console.log(`| all | ${fmt(total.u[0]!)} s | ${fmt(total.u[1]!)} s | ${fmt(total.s[0]!)} s | ${fmt(total.s[1]!)} s | **${ratio(total.s[1]!, total.s[0]!)}** | ${fmt(total.conv, 1)} s | |`);

  if (D !== undefined && refD !== undefined) {
    console.log(`\n${when()}: docker push (dockerd 20.10, ${dockerStorage()}, data root on tmpfs) of each image, pulled from U and tagged for both registries (ds/docker-push); the registries take turns going first.\n`);
    const pusher = await rig.startDockerd("docker-push", [U.host, D.host, refD.host]);
    console.log("| image | docker push: distribution | docker push: docker-dedup D | ratio | convert (D) | load |");
    console.log("|---|---|---|---|---|---|");
    const t = [0, 0, 0];
    for (const [i, tag] of IMAGES.entries()) {
      const row = load();
      const source = `${U.host}/ds/debian:${tag}`;
      if (pusher.images() !== "") throw new Error(`the pushing docker still holds images: ${pusher.images()}`);
      pusher(["pull", "-q", source]);
      const times = new Map<string, number>();
      let conv = 0;
      const order: (DockerDedup | Reference)[] = i % 2 === 0 ? [refD, D] : [D, refD];
      for (const target of order) {
        const name = `${target.host}/ds/docker-push:${tag}`;
        pusher(["tag", source, name]);
        times.set(target.name, pusher(["push", "-q", name]));
        if (target === D) conv = await settle(D, "ds/docker-push", tag, performance.now());
      }
      pusher(["rmi", source, `${D.host}/ds/docker-push:${tag}`, `${refD.host}/ds/docker-push:${tag}`]);
      const ref = times.get(refD.name)!;
      const ours = times.get(D.name)!;
      t[0]! += ref;
      t[1]! += ours;
      t[2]! += conv;
      console.log(`| ${tag} | ${fmt(ref)} s | ${fmt(ours)} s | ${ratio(ours, ref)} | ${fmt(conv, 1)} s | ${row} |`);
    }
    console.log(`| all | ${fmt(t[0]!)} s | ${fmt(t[1]!)} s | **${ratio(t[1]!, t[0]!)}** | ${fmt(t[2]!, 1)} s | |`);
  }

  // Encoders, per layer, as serve logged them.
  console.log(`\n## Conversions (${when()})\n`);
  console.log("| store | layer | gzip MiB | outcome | encoder (serve's log) |\n|---|---|---|---|---|");
  const sizes = new Map<string, number>();
  for (const [dd, repo] of [[S, "ds/debian"], [D, "ds/docker-push"]] as const) {
    if (dd === undefined) continue;
    for (const tag of IMAGES) for (const l of (await manifest(dd, repo, tag)).layers) sizes.set(l.digest, l.size);
    for (const [digest, c] of dd.conversions) console.log(`| ${dd.name} | ${short(digest)} | ${mib(sizes.get(digest) ?? 0)} | ${c.outcome} | ${c.detail} |`);
  }

  // Disk: conversions ended; stop, collect, measure.
  console.log(`\n## Disk (${when()})\n`);
  const stores = [U, S, ...(D === undefined ? [] : [D])];
  for (const dd of stores) await dd.stop();
  const before = new Map(stores.map((dd) => [dd, { stats: dd.stats(), disk: dd.diskBytes() }]));
  const reports = new Map<DockerDedup, string[]>();
  const collected = new Map<DockerDedup, number>();
  for (const dd of stores) {
    reports.set(dd, [dd.gc(["--grace", "0s"]), dd.gc(["--grace", "0s"])]);
    collected.set(dd, dd.diskBytes());
    reports.get(dd)!.push(dd.gc(["--grace", "0s", "--min-live-share", "1"]));
  }
  console.log("Each store stopped, then `docker-dedup gc --grace 0s` twice (the first dooms the chunks no blob needs, the second deletes them and rewrites packs less than half live, the default `--min-live-share 0.5`), then once more with `--min-live-share 1` (every pack holding a dead byte rewritten). Bytes on disk: `du` of the store without its gzip-cache directory (empty here: nothing was pulled yet). The distributions' data directories beside them.\n");
  console.log("| store | MiB on disk before gc | **after gc (default)** | / U | after gc, `--min-live-share 1` | / U | gzip as content | kept | pending | unreferenced chunks before gc (stored MiB) | after gc | gzip-cache MiB |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  const uCollected = collected.get(U)!;
  const uDisk = U.diskBytes();
  for (const dd of stores) {
    const after = dd.stats();
    const b = before.get(dd)!;
    const disk = dd.diskBytes();
    const c = collected.get(dd)!;
    console.log(
      `| ${dd.name} | ${mib(b.disk)} | **${mib(c)}** | ${dd === U ? "" : `**${ratio(c, uCollected)}**`} | ${mib(disk)} | ${dd === U ? "" : ratio(disk, uDisk)} | ${after.gzip.asContent} | ${after.gzip.kept.length} | ${b.stats.gzip.pending} | ${b.stats.unreferencedChunks} (${mib(b.stats.unreferencedStoredBytes)}) | ${after.unreferencedChunks} (${mib(after.unreferencedStoredBytes)}) | ${mib(dd.gzipCacheBytes())} |`,
    );
    for (const k of after.gzip.kept) console.log(`|   kept ${short(k.digest)}: ${k.reason} | | | | | | | | | | | |`);
  }
  for (const ref of [refU, refS, ...(refD === undefined ? [] : [refD])]) console.log(`| ${ref.name} | | ${mib(ref.diskBytes())} | ${ratio(ref.diskBytes(), uCollected)} | | | | | | | | |`);
  console.log("");
  for (const dd of stores) {
    const [first, second, full] = reports.get(dd)!.map((r) => r.trim().split("\n").join("; "));
    console.log(`- ${dd.name}, gc: (1) ${first}\n  (2) ${second}\n  (3, --min-live-share 1) ${full}`);
  }
  for (const dd of stores) await dd.start();
}

/** The docker pulls of one image set, cold and warm, from a docker-dedup and the distribution holding the same images. */
async function dockerPulls(docker: Docker, dd: DockerDedup, ref: Reference, repo: string): Promise<void> {
  console.log(`\n### ${dd.name} against ${ref.name}: docker pull of ${repo} (${when()})\n`);
  const caches = dropCaches();
  console.log(`Cold: both servers restarted before each image, docker-dedup's gzip cache emptied, page cache ${caches ? "dropped" : "NOT dropped (not permitted)"}, docker-dedup's start-up warm-up of its gzip encoders waited for. Warm: the same pull again. docker-dedup CPU: serve's CPU seconds during its pull.\n`);
  console.log("| image | cold: distribution | cold: docker-dedup | ratio | docker-dedup CPU | warm: distribution | warm: docker-dedup | ratio | docker-dedup CPU | load |");
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  const totals = [0, 0, 0, 0, 0, 0];
  const pullOnce = (target: DockerDedup | Reference, tag: string) => {
    if (docker.images() !== "") throw new Error(`docker still holds images: ${docker.images()}`);
    const name = `${target.host}/${repo}:${tag}`;
    const cpu = cpuSeconds(target.pid);
    const time = docker(["pull", "-q", name]);
    const used = cpuSeconds(target.pid) - cpu;
    docker(["rmi", name]);
    return { time, cpu: used };
  };
  let peak = 0;
  for (const [i, tag] of IMAGES.entries()) {
    const row = load();
    await dd.stop();
    await ref.stop();
    rmSync(dd.gzipCacheDir, { recursive: true, force: true });
    dropCaches();
    await dd.start();
    await ref.start();
    await dd.warmedUp();
    const order = i % 2 === 0 ? [ref, dd] : [dd, ref];
    const cold = new Map(order.map((t) => [t, pullOnce(t, tag)]));
    const warm = new Map(order.map((t) => [t, pullOnce(t, tag)]));
    peak = Math.max(peak, peakRss(dd.pid));
    const r = [cold.get(ref)!.time, cold.get(dd)!.time, cold.get(dd)!.cpu, warm.get(ref)!.time, warm.get(dd)!.time, warm.get(dd)!.cpu];
    r.forEach((v, j) => (totals[j]! += v));
    console.log(`| ${tag} | ${fmt(r[0]!)} s | ${fmt(r[1]!)} s | ${ratio(r[1]!, r[0]!)} | ${fmt(r[2]!, 1)} s | ${fmt(r[3]!)} s | ${fmt(r[4]!)} s | ${ratio(r[4]!, r[3]!)} | ${fmt(r[5]!, 1)} s | ${row} |`);
  }
  const t = totals;
  console.log(`| all | ${fmt(t[0]!)} s | ${fmt(t[1]!)} s | **${ratio(t[1]!, t[0]!)}** | ${fmt(t[2]!, 1)} s | ${fmt(t[3]!)} s | ${fmt(t[4]!)} s | **${ratio(t[4]!, t[3]!)}** | ${fmt(t[5]!, 1)} s | |`);
  console.log(`\ndocker-dedup serve peak RSS (largest after any image's pulls; it restarts before each image): ${mib(peak)} MiB; its gzip cache after the last image: ${mib(dd.gzipCacheBytes())} MiB.`);
}

/**
 * The distinct gzip layers of `repo`'s images, with both servers made cold: stopped,
 * docker-dedup's gzip cache emptied, the page cache dropped (if it could be), started again, and
 * docker-dedup's warm-up of its gzip encoders waited for.
 */
async function coldLayers(dd: DockerDedup, ref: Reference, repo: string): Promise<{ layers: Map<string, Descriptor>; dropped: boolean }> {
  const layers = new Map<string, Descriptor>();
  for (const tag of IMAGES) for (const l of await gzipLayers(dd, repo, tag)) layers.set(l.digest, l);
  await dd.stop();
  await ref.stop();
  rmSync(dd.gzipCacheDir, { recursive: true, force: true });
  const dropped = dropCaches();
  await dd.start();
  await ref.start();
  await dd.warmedUp();
  return { layers, dropped };
}

/** GET of every distinct gzip layer of one image set, cold then warm, both servers. */
async function layerGets(dd: DockerDedup, ref: Reference, repo: string): Promise<void> {
  const { layers, dropped } = await coldLayers(dd, ref, repo);
  console.log(`\n### ${dd.name} against ${ref.name}: GET of each gzip layer of ${repo} by curl (${when()})\n`);
  console.log(`Cold: after a restart of both, docker-dedup's gzip cache emptied, page cache ${dropped ? "dropped" : "NOT dropped"}, docker-dedup's warm-up of its gzip encoders waited for; then every layer once (the registries take turns going first). Warm: the same GETs again. MB/s of gzip bytes; time to first byte in parentheses.\n`);
  console.log("| layer | gzip MiB | encoder | cold: distribution | cold: docker-dedup | docker-dedup CPU/wall | warm: distribution | warm: docker-dedup |");
  console.log("|---|---|---|---|---|---|---|---|");
  const rows = new Map<string, string[]>();
  const sums = { cold: [0, 0], warm: [0, 0] };
  let bytes = 0;
  for (const pass of ["cold", "warm"] as const) {
    for (const [i, l] of [...layers.values()].entries()) {
      const results = new Map<string, { text: string; total: number; busy?: number }>();
      for (const t of i % 2 === 0 ? [ref, dd] : [dd, ref]) {
        const cpu = cpuSeconds(t.pid);
        const r = curlGet(t, l.digest, l.size, repo);
        results.set(t.name, { text: `${fmt(r.mbps, 0)} MB/s (${fmt(r.ttfb * 1000, 0)} ms)`, total: r.total, busy: (cpuSeconds(t.pid) - cpu) / r.total });
      }
      const row = rows.get(l.digest) ?? [];
      row.push(results.get(ref.name)!.text, results.get(dd.name)!.text);
      if (pass === "cold") row.push(`${fmt(results.get(dd.name)!.busy!, 2)}`);
      rows.set(l.digest, row);
      sums[pass][0]! += results.get(ref.name)!.total;
      sums[pass][1]! += results.get(dd.name)!.total;
      if (pass === "cold") bytes += l.size;
    }
  }
  for (const l of layers.values()) {
    const [refCold, ddCold, busy, refWarm, ddWarm] = rows.get(l.digest)!;
    console.log(`| ${short(l.digest)} | ${mib(l.size)} | ${family(dd.conversions.get(l.digest)?.detail)} | ${refCold} | ${ddCold} | ${busy} | ${refWarm} | ${ddWarm} |`);
  }
  const rate = (s: number) => `${fmt(bytes / MB / s, 0)} MB/s`;
  console.log(`| all (${layers.size}) | ${mib(bytes)} | | ${rate(sums.cold[0]!)} | **${rate(sums.cold[1]!)}** (${ratio(sums.cold[1]!, sums.cold[0]!)} the time) | | ${rate(sums.warm[0]!)} | **${rate(sums.warm[1]!)}** (${ratio(sums.warm[1]!, sums.warm[0]!)} the time) |`);
}

/**
 * CLIENTS curl clients at once, each GETting every distinct gzip layer of `repo` (client i
 * starting at layer i), on cold servers, distribution first.
 */
async function clientsAtOnce(dd: DockerDedup, ref: Reference, repo: string): Promise<void> {
  const { layers, dropped } = await coldLayers(dd, ref, repo);
  const list = [...layers.values()];
  const bytes = list.reduce((sum, l) => sum + l.size, 0);
  console.log(`\n### ${dd.name} against ${ref.name}: ${CLIENTS} clients at once, each GETting the ${list.length} gzip layers of ${repo} (${mib(bytes)} MiB) by curl (${when()})\n`);
  console.log(`Cold: after a restart of both, docker-dedup's gzip cache emptied, page cache ${dropped ? "dropped" : "NOT dropped"}, docker-dedup's warm-up of its gzip encoders waited for. Wall: until the last client got its last layer.\n`);
  console.log("| server | wall | MB/s of gzip bytes (all clients) | server CPU s | gzip cache: misses / followed / hits | peak RSS | load |");
  console.log("|---|---|---|---|---|---|---|");
  const walls: number[] = [];
  for (const t of [ref, dd]) {
    const row = load();
    const cpu = cpuSeconds(t.pid);
    const wall = await clientsGetting(t, list, repo, CLIENTS);
    walls.push(wall);
    const counts = t === dd ? await gzipCacheCounts(dd) : "";
    console.log(`| ${t.name} | ${fmt(wall, 2)} s${t === dd ? ` (**${ratio(wall, walls[0]!)}** the time)` : ""} | ${fmt((CLIENTS * bytes) / MB / wall, 0)} | ${fmt(cpuSeconds(t.pid) - cpu, 1)} | ${counts} | ${mib(peakRss(t.pid))} MiB | ${row} |`);
  }
}

/** serve's gzip cache counters from its /metrics: misses / followed / hits. */
async function gzipCacheCounts(dd: DockerDedup): Promise<string> {
  const text = await (await fetchAgain(`${dd.url}/metrics`)).text();
  const count = (name: string) => new RegExp(`^docker_dedup_gzip_cache_${name}_total (\\S+)$`, "m").exec(text)?.[1] ?? "?";
  return ["misses", "followed", "hits"].map(count).join(" / ");
}

/** A one-layer image in an OCI directory (skopeo's dir: transport), the minbase config beside a gzip layer. */
function oneLayerImage(dir: string, layer: Buffer): Descriptor {
  const base = join(DATASET, "images", "minbase");
  const m = JSON.parse(readFileSync(join(base, "manifest.json"), "utf8")) as { config: Descriptor };
  const digest = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(base, "version"), join(dir, "version"));
  copyFileSync(join(base, m.config.digest.slice(7)), join(dir, m.config.digest.slice(7)));
  writeFileSync(join(dir, digest.slice(7)), layer);
  const descriptor = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: layer.length };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: m.config, layers: [descriptor] }));
  return descriptor;
}

/** (d) Re-creation of the largest layer per encoder family, no gzip cache, against distribution's GET of the same blob. */
async function recreation(s: Servers): Promise<void> {
  console.log(`\n## Re-creation per encoder family (${when()})\n`);
  const base = JSON.parse(readFileSync(join(DATASET, "images", "minbase", "manifest.json"), "utf8")) as { layers: Descriptor[] };
  const tarPath = join(DATASET, "images", "minbase", base.layers[0]!.digest.slice(7));
  const tar = readFileSync(tarPath);
  const gzipper = await gzipperPath();
  const work = join(rig.scratch, "variants");
  mkdirSync(work, { recursive: true });
  const fetchBlob = async (ref: Reference, repo: string, tag: string) => {
    const l = (await manifest(ref, repo, tag)).layers[0]!;
    return Buffer.from(await (await fetchAgain(`${ref.url}/v2/${repo}/blobs/${l.digest}`)).arrayBuffer());
  };
  /**
   * The real encoder on one core: its output, and the CPU seconds it took (Go: the whole gzipper
   * process with GOMAXPROCS=1, by GNU time; Python: process time inside compress()).
   */
  const real = (name: string): { out: Buffer; cpu: number } => {
    const out = join(work, `${name}.gz`);
    if (name.startsWith("zlib")) {
      const script = "import gzip,sys,time\nd=open(sys.argv[1],'rb').read()\nt=time.process_time()\no=gzip.compress(d,compresslevel=int(sys.argv[2]),mtime=0)\ne=time.process_time()-t\nopen(sys.argv[3],'wb').write(o)\nprint(e)";
      const cpu = Number(execFileSync("python3", ["-c", script, tarPath, name.slice(4), out], { encoding: "utf8" }).trim());
      return { out: readFileSync(out), cpu };
    }
    const flags = name === "go1" ? ["-encoder", "stdlib", "-level", "1"] : name === "go6" ? ["-encoder", "stdlib", "-level", "6"] : ["-encoder", "pgzip", "-level", "-1", "-block", String(1 << 20)];
    const times = join(work, `${name}.time`);
    execFileSync("sh", ["-c", `/usr/bin/time -o ${times} -f "%U %S" "$0" "$@" < ${tarPath} > ${out}`, gzipper, ...flags], { env: { ...process.env, GOMAXPROCS: "1" } });
    const [user, sys] = readFileSync(times, "utf8").trim().split("\n").pop()!.split(" ").map(Number) as [number, number];
    return { out: readFileSync(out), cpu: user + sys };
  };
  const variants: { name: string; label: string; layer: Buffer; realCpu: number; note: string }[] = [];
  for (const name of ["go6", "pgzip", "go1", "zlib6", "zlib9"]) {
    const r = real(name);
    let layer = r.out;
    let note = "";
    if (name === "go6" && s.refD !== undefined) {
      layer = await fetchBlob(s.refD, "ds/docker-push", "minbase");
      note = layer.equals(r.out) ? "docker push's blob; Go 1.26 gzipper: same bytes" : "docker push's blob; Go 1.26 gzipper: DIFFERENT bytes";
    } else if (name === "pgzip") {
      layer = await fetchBlob(s.refS, "ds/debian", "minbase");
      note = layer.equals(r.out) ? "skopeo's blob; pgzip 1.2.5 gzipper: same bytes" : "skopeo's blob; gzipper: DIFFERENT bytes";
    }
    const label = { go6: "Go level 6 (docker push)", pgzip: "pgzip (skopeo default)", go1: "Go level 1 (crane, ko, kaniko)", zlib6: "zlib level 6 (CPython gzip)", zlib9: "zlib level 9 (CPython gzip)" }[name]!;
    variants.push({ name, label, layer, realCpu: r.cpu, note });
  }

  const X = await rig.startDockerDedup("docker-dedup (no gzip cache)", { args: ["--gzip-cache-mb", "0"] });
  const refX = await rig.startReference("distribution (recreate)");
  const descriptors = new Map<string, Descriptor>();
  for (const v of variants) {
    const dir = join(work, `image-${v.name}`);
    descriptors.set(v.name, oneLayerImage(dir, v.layer));
    for (const t of [refX, X]) skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `dir:${dir}`, `docker://${t.host}/ds/recreate:${v.name}`]);
    const start = performance.now();
    await settle(X, "ds/recreate", v.name, start);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`The ${mib(tar.length)} MiB minbase tar, gzipped five ways, each pushed as a one-layer image; docker-dedup serves with --gzip-cache-mb 0 (${availableParallelism()} cores, so 2 encode threads). First GET: both servers restarted, page cache dropped, docker-dedup's warm-up of its gzip encoders waited for; second: right after (docker-dedup's decoded-chunk cache holds the content). MB/s of gzip bytes out (curl). Per CPU-s: MB of gzip bytes out per CPU second, the figure load disturbs least: serve's (all its threads), and the real encoder's on one core (Go: gzipper with GOMAXPROCS=1, the whole process; Python: compress() alone). CPU/wall: the cores serve kept busy.\n`);
  console.log("| layer | encoder (serve's log) | gzip MiB | real encoder: MB per CPU-s | distribution, first GET | docker-dedup, first GET | CPU s | MB per CPU-s | CPU/wall | distribution, second GET | docker-dedup, second GET | MB per CPU-s | CPU/wall | load |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const v of variants) {
    const d = descriptors.get(v.name)!;
    const row = load();
    await X.stop();
    await refX.stop();
    dropCaches();
    await X.start();
    await refX.start();
    await X.warmedUp();
    const cells: string[] = [];
    for (const pass of [0, 1]) {
      const r = curlGet(refX, d.digest, d.size, "ds/recreate");
      const cpu = cpuSeconds(X.pid);
      const o = curlGet(X, d.digest, d.size, "ds/recreate");
      const used = cpuSeconds(X.pid) - cpu;
      cells.push(`${fmt(r.mbps, 0)} MB/s`, `**${fmt(o.mbps, 1)} MB/s**`);
      if (pass === 0) cells.push(fmt(used, 1));
      cells.push(fmt(d.size / MB / used, 1), fmt(used / o.total, 2));
    }
    console.log(`| ${v.label} | ${family(X.conversions.get(d.digest)?.detail)} | ${mib(d.size)} | ${fmt(d.size / MB / v.realCpu, 1)} | ${cells.join(" | ")} | ${row} |`);
  }
  for (const v of variants) if (v.note !== "") console.log(`\n${v.label}: ${v.note}.`);
  console.log(`\ndocker-dedup (no gzip cache) peak RSS: ${mib(peakRss(X.pid))} MiB.`);
}

try {
  console.log(`# gzip layers: docker-dedup against distribution 2.8\n\nRun of ${when()}; \`node ${["dist/bench/gzip.js", ...args].join(" ")}\`; node ${process.version}, ${availableParallelism()} cores; dataset ${DATASET}.`);
  execFileSync("sh", ["-c", `cat ${DATASET}/layers/* > /dev/null`]); // same warm source for every push
  const servers: Servers = {
    U: await rig.startDockerDedup("docker-dedup U (uncompressed)"),
    S: await rig.startDockerDedup("docker-dedup S (skopeo gzip)"),
    D: withDocker ? await rig.startDockerDedup("docker-dedup D (docker push gzip)") : undefined,
    refU: await rig.startReference("distribution (uncompressed)"),
    refS: await rig.startReference("distribution (skopeo gzip)"),
    refD: withDocker ? await rig.startReference("distribution (docker push gzip)") : undefined,
  };
  await pushAndDisk(servers);
  const sets = [
    ...(servers.D !== undefined && servers.refD !== undefined ? [[servers.D, servers.refD, "ds/docker-push"] as const] : []),
    [servers.S, servers.refS, "ds/debian"] as const,
  ];
  if (PARTS.has("pull") && withDocker) {
    console.log(`\n## docker pull (dockerd 20.10, ${dockerStorage()}, data root on tmpfs)`);
    const puller = await rig.startDockerd("docker-pull", sets.flatMap(([dd, ref]) => [dd.host, ref.host]));
    for (const [dd, ref, repo] of sets) await dockerPulls(puller, dd, ref, repo);
  }
  if (PARTS.has("get")) {
    console.log("\n## GET of every layer");
    for (const [dd, ref, repo] of sets) await layerGets(dd, ref, repo);
  }
  if (PARTS.has("clients")) {
    console.log(`\n## ${CLIENTS} clients at once, cold`);
    for (const [dd, ref, repo] of sets) await clientsAtOnce(dd, ref, repo);
  }
  if (PARTS.has("recreate")) await recreation(servers);
  console.log(`\nEnd: ${when()}.`);
} finally {
  await rig.cleanup();
}
