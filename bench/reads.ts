/**
 * The read path's benchmark (issue 15), side by side with Debian's docker-registry (CNCF
 * distribution 2.8) in the same run: every distinct layer of the dataset images fetched by curl
 * (bytes thrown away, the size checked; docker-dedup checks each blob's digest before its last
 * byte goes out), from both servers:
 *
 * - cold: both servers stopped, the page cache dropped (`sync; echo 3 > /proc/sys/vm/drop_caches`),
 *   both started again; then every layer once, the servers taking turns going first;
 * - warm: the same GETs again at once;
 * - N clients (8 by default) at once, each GETting every layer one after the other, client i
 *   starting at layer i (so that different blobs are in flight together); one server at a time,
 *   the reference first;
 * - each server's CPU seconds (all its threads) per phase, the figure load disturbs least;
 * - each server's peak RSS (VmHWM of its process): after cold + warm, and after the clients. For
 *   docker-dedup, where the memory is, just started and at the largest of samples taken every
 *   250 ms during the clients: RssAnon and RssFile from /proc/PID/status, and its /metrics
 *   (nodejs_heap_size_total_bytes and _used_bytes, nodejs_external_memory_bytes,
 *   docker_dedup_chunk_cache_bytes).
 *
 *   npm run build && node dist/bench/reads.js [--dataset DIR] [--tags minbase,node] [--clients 8]
 *       [--chunk-cache-mb N|default[,...]] [--store embedded|redis[,...]] [--keep-page-cache]
 *
 * `--chunk-cache-mb` is passed to serve; a list (`default,128,64`: "default" passes none) runs
 * the three phases once per value over the same stores (pushed once), the reference measured
 * again beside each. Without it, serve runs with its default. `--store redis` keeps
 * docker-dedup's store in a real redis-server (Debian's, started on a free loopback port without
 * persistence, as the tests do); there "cold" only restarts serve and drops the page cache: the
 * chunks stay in Redis's memory. `--tags` takes only those images' layers (a quick try; the
 * figures are for all five); `--keep-page-cache` leaves the page cache alone (a try while another
 * benchmark runs: "cold" is then a restart only). The dataset is bench/dataset/build.sh's; every
 * image is pushed uncompressed (`skopeo copy --preserve-digests`) to both servers first, as
 * bench/registry.ts does.
 *
 * Needs skopeo, docker-registry, curl (and redis-server for `--store redis`). As root with
 * unshare, setpriv and ip (bench/rig.ts), the benchmark re-runs itself in new network, PID and
 * mount namespaces holding only `lo`, so that no server outlives it; dropping the page cache
 * needs root too. On 2 busy cores: the pushes take about 15 s per store, then each cache size
 * about half a minute (five sizes in under 2 minutes).
 */
import { readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { startRedis, type RedisServer } from "../test/redis/servers.js";
import {
  clientsGetting,
  cpuSeconds,
  curlGet,
  datasetLayers,
  DEFAULT_DATASET,
  dropCaches,
  enterNamespaces,
  layerFile,
  MiB,
  option,
  peakRss,
  Rig,
  skopeo,
  TAGS,
  when,
  type Descriptor,
  type DockerDedup,
  type Reference,
  type Target,
} from "./rig.js";

const args = process.argv.slice(2);
const DATASET = option(args, "--dataset") ?? DEFAULT_DATASET;
const IMAGES = option(args, "--tags")?.split(",") ?? TAGS;
const CLIENTS = Number(option(args, "--clients") ?? 8);
/** Chunk cache sizes to try (MiB); undefined: serve's default. */
const CACHES: (number | undefined)[] = option(args, "--chunk-cache-mb")?.split(",").map((c) => (c === "default" ? undefined : Number(c))) ?? [undefined];
const STORES = (option(args, "--store") ?? "embedded").split(",");
const DROP_CACHES = !args.includes("--keep-page-cache");
const REPO = "ds/debian";
const MB = 1e6;

for (const s of STORES) if (s !== "embedded" && s !== "redis") throw new Error(`--store: embedded or redis, not ${s}`);
if (CACHES.some((c) => c !== undefined && !(Number.isFinite(c) && c >= 0))) throw new Error("--chunk-cache-mb: MiB, or a list of them separated by commas");
if (!Number.isInteger(CLIENTS) || CLIENTS < 1) throw new Error("--clients: a positive number");

const namespaces = enterNamespaces(import.meta.url, args);
if (!namespaces.ok) console.error(`running in this machine's namespaces: ${namespaces.why}`);

const rig = new Rig("docker-dedup-reads-bench-");
const fmt = (n: number, digits = 2) => n.toFixed(digits);
const mib = (bytes: number) => fmt(bytes / MiB, 0);
const load1 = () => fmt(loadavg()[0]!, 1);

/** Every layer once from each server, the servers taking turns going first: seconds each (curl's totals). */
function sweep(ref: Target, ours: Target, layers: Descriptor[]): { ref: number; ours: number } {
  const sums = { ref: 0, ours: 0 };
  layers.forEach((l, i) => {
    for (const t of i % 2 === 0 ? [ref, ours] : [ours, ref]) sums[t === ref ? "ref" : "ours"] += curlGet(t, l.digest, l.size, REPO).total;
  });
  return sums;
}

/** The process's resident set now, from /proc/PID/status: anonymous and file-backed (the binary, mapped files), in bytes. */
function rssNow(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
}

/** Where docker-dedup's memory is, from /proc and its /metrics, in bytes. */
interface MemorySample {
  anon: number;
  file: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  chunkCache: number;
}

async function memorySample(target: Target): Promise<MemorySample | undefined> {
  try {
    const text = await (await fetch(`${target.url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    return {
      ...rssNow(target.pid),
      heapTotal: value("nodejs_heap_size_total_bytes"),
      heapUsed: value("nodejs_heap_size_used_bytes"),
      external: value("nodejs_external_memory_bytes"),
      chunkCache: value("docker_dedup_chunk_cache_bytes"),
    };
  } catch {
    return undefined; // a sample lost under load is no matter
  }
}

/** "RSS 259 MiB: file-backed 50 + anonymous 209 = ...": a sample, summed up. */
function describe(m: MemorySample): string {
  const rest = m.anon - m.heapUsed - m.external;
  return `RSS ${mib(m.anon + m.file)} MiB: file-backed (the node binary, mapped files) ${mib(m.file)} + anonymous ${mib(m.anon)} = V8 heap used ${mib(m.heapUsed)} (of ${mib(m.heapTotal)} reserved) + external (Buffers, ArrayBuffers, live or awaiting GC) ${mib(m.external)}, of which chunk cache ${mib(m.chunkCache)}, + the rest ${mib(rest)} (V8 heap slack, the decode threads' heaps and buffers, native allocations, freed memory malloc kept)`;
}

/** CLIENTS clients at once, each GETting every layer (client i starting at layer i): wall seconds, and the largest memory sample if asked. */
async function clients(target: Target, layers: Descriptor[], sampleMetrics: boolean): Promise<{ wall: number; largest?: MemorySample }> {
  let largest: MemorySample | undefined;
  let sampling = sampleMetrics;
  const sampler = (async () => {
    while (sampling) {
      const s = await memorySample(target);
      if (s !== undefined && s.anon + s.file > (largest === undefined ? -1 : largest.anon + largest.file)) largest = s;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  const wall = await clientsGetting(target, layers, REPO, CLIENTS);
  sampling = false;
  await sampler;
  return largest === undefined ? { wall } : { wall, largest };
}

/** The three phases for one docker-dedup configuration, the reference beside it; prints its table. */
async function measure(ref: Reference, ours: DockerDedup, layers: Descriptor[], label: string, redis?: RedisServer): Promise<void> {
  const bytes = layers.reduce((sum, l) => sum + l.size, 0);
  await ours.stop();
  await ref.stop();
  const dropped = DROP_CACHES && dropCaches();
  await ref.start();
  await ours.start();
  const idle = await memorySample(ours);
  const refIdle = rssNow(ref.pid);
  const start = when();
  const loads: string[] = [];
  /** CPU seconds of both servers (all threads) at each step. */
  const cpu: { ref: number; ours: number }[] = [];
  const mark = () => {
    loads.push(load1());
    cpu.push({ ref: cpuSeconds(ref.pid), ours: cpuSeconds(ours.pid) });
  };
  mark();
  const cold = sweep(ref, ours, layers);
  mark();
  const warm = sweep(ref, ours, layers);
  const seqPeak = { ref: peakRss(ref.pid), ours: peakRss(ours.pid) };
  mark();
  const refClients = await clients(ref, layers, false);
  mark();
  const ourClients = await clients(ours, layers, true);
  mark();
  const peak = { ref: peakRss(ref.pid), ours: peakRss(ours.pid) };

  const rate = (s: number, n = 1) => `${fmt(s)} s (${fmt((bytes * n) / MB / s, 0)} MB/s)`;
  const used = (who: "ref" | "ours", from: number, to = from + 1) => fmt(cpu[to]![who] - cpu[from]![who], 1);
  const row = (what: string, r: number, o: number, n: number, c: string, l: string) => console.log(`| ${what} | ${rate(r, n)} | ${rate(o, n)} | **${fmt(o / r)}x** | ${c} | ${l} |`);
  console.log(`\n### docker-dedup ${label} (${start})\n`);
  console.log(`${layers.length} distinct layers, ${fmt(bytes / MiB, 1)} MiB. Cold: both stopped, page cache ${dropped ? "dropped" : DROP_CACHES ? "NOT dropped (not permitted)" : "kept (--keep-page-cache)"}, both started${redis ? " (the store's chunks stay in redis-server's memory)" : ""}.\n`);
  console.log(`| every layer by curl | distribution | docker-dedup | ratio (time) | server CPU s: distribution / docker-dedup | load average (1 min) |`);
  console.log(`|---|---|---|---|---|---|`);
  row("cold", cold.ref, cold.ours, 1, `${used("ref", 0)} / ${used("ours", 0)}`, `${loads[0]} - ${loads[1]}`);
  row("warm", warm.ref, warm.ours, 1, `${used("ref", 1)} / ${used("ours", 1)}`, `${loads[1]} - ${loads[2]}`);
  row(`${CLIENTS} client${CLIENTS === 1 ? "" : "s"} at once (wall)`, refClients.wall, ourClients.wall, CLIENTS, `${used("ref", 2)} / ${used("ours", 3)}`, `${loads[2]} - ${loads[3]} / ${loads[3]} - ${loads[4]}`);
  console.log(`| peak RSS after cold + warm | ${mib(seqPeak.ref)} MiB | ${mib(seqPeak.ours)} MiB | ${fmt(seqPeak.ours / seqPeak.ref, 1)}x | | |`);
  console.log(`| peak RSS after the clients | ${mib(peak.ref)} MiB | **${mib(peak.ours)} MiB** | ${fmt(peak.ours / peak.ref, 1)}x | | |`);
  const m = ourClients.largest;
  if (m !== undefined) {
    console.log(`\ndocker-dedup, just started: ${describe(idle!)}.`);
    console.log(`docker-dedup, the largest of the samples taken every 250 ms during the clients: ${describe(m)}.`);
    console.log(`distribution, just started: RSS ${mib(refIdle.anon + refIdle.file)} MiB (file-backed ${mib(refIdle.file)}).`);
  }
  if (redis !== undefined) console.log(`redis-server peak RSS: ${mib(Math.max(...redis.nodes.map((n) => peakRss(n.process.pid!))))} MiB.`);
}

try {
  const layers = datasetLayers(DATASET, IMAGES);
  // The same warm source for every push.
  for (const l of layers) readFileSync(layerFile(DATASET, l.digest));
  console.log(`# Reads: docker-dedup against distribution 2.8\n\nRun of ${when()}; \`node ${["dist/bench/reads.js", ...args].join(" ")}\`; node ${process.version}, ${availableParallelism()} cores; dataset ${DATASET} (${IMAGES.join(", ")}).`);
  const ref = await rig.startReference("distribution 2.8");
  const push = (t: Target) => IMAGES.reduce((sum, tag) => sum + skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `dir:${join(DATASET, "images", tag)}`, `docker://${t.host}/${REPO}:${tag}`]), 0);
  console.log(`\nPushed to distribution in ${fmt(push(ref))} s.`);
  for (const store of STORES) {
    let redis: RedisServer | undefined;
    if (store === "redis") {
      const server = await startRedis();
      redis = server;
      rig.after(() => server.stop());
    }
    const base = redis === undefined ? [] : ["--gzip-cache-dir", join(rig.scratch, "gzip-cache")];
    const ours = await rig.startDockerDedup(`docker-dedup (${store})`, redis === undefined ? { args: base } : { store: redis.url, args: base });
    console.log(`Pushed to docker-dedup (${store} store) in ${fmt(push(ours))} s${redis === undefined ? `; its store takes ${mib(ours.diskBytes())} MiB` : ""}.`);
    for (const cache of CACHES) {
      ours.args = cache === undefined ? base : [...base, "--chunk-cache-mb", String(cache)];
      await measure(ref, ours, layers, `(${store} store), ${cache === undefined ? "default settings" : `--chunk-cache-mb ${cache}`}`, redis);
    }
    await ours.stop();
  }
  console.log(`\nEnd: ${when()}.`);
} finally {
  await rig.cleanup();
}
