/**
 * Sites: pulls across shaped links (issue 5, item 9). Inside the project's testbed
 * (scripts/sites/testbed.sh: a fresh loopback-only network namespace, each link an HTB class on
 * lo), four source sites and one destination site, each a `docker-dedup serve --site` process on
 * its own 127.0.0.x; the links from the sources to the destination run at 20, 50, 100 and
 * 200 Mbit/s. Every measurement starts a fresh destination (empty store), waits until it has
 * replicated the sources' tags, then pulls one image through its registry API as a client
 * would (manifest, then config and layers concurrently, every digest checked), and reads the
 * bytes each link carried from tc's counters. Compared with:
 *  - the max-flow lower bound for the chunks the destination lacked (stored sizes, which are
 *    what travels) over the configured link rates: planTransfer's `lowerBound`, from the same
 *    inputs the destination plans with (recipes, `has` answers of every source);
 *  - the whole layers pulled from a plain CNCF registry (Debian's docker-registry) at the
 *    100 Mbit/s site, over its shaped link.
 * Each policy (network-aware, random, single-source) is run with links steady, and with the
 * 200 Mbit/s link slowed 5x in the middle of the transfer; network-aware also without seeding
 * the destination's link estimates with the configured rates (config `peers[].bandwidth`).
 *
 *   npm run build && node dist/bench/sites.js [--image python] [--runs N] [--dataset DIR] [--json FILE]
 *                                           [--only KEY,...] [--stores DIR]
 *
 * Needs the dataset (bench/dataset/build.sh), docker-registry, and what the testbed needs (tc,
 * unshare, setpriv; root or unprivileged user namespaces). The benchmark re-runs itself inside
 * the testbed; everything it starts dies with the namespace.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request, type IncomingMessage } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { SchedulePolicy } from "../src/config/site-config.js";
import { planTransfer } from "../src/sites/schedule/schedule.js";
import { PeerClient } from "../src/sites/wire/peer-client.js";
import type { ChunkId } from "../src/store/chunk-id.js";
import { distinctChunks, encodeRecipe, type Recipe } from "../src/store/recipe.js";
import { linkCounters, setLinks, TESTBED_SCRIPT } from "../test/sites/testbed.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, "dist/src/cli/main.js");
const args = process.argv.slice(2);
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const DATASET = option("--dataset", "/var/tmp/docker-dedup-bench");
const IMAGE = option("--image", "python");
const RUNS = Number(option("--runs", "1"));
const JSON_OUT = option("--json", "/tmp/docker-dedup-sites-bench.json");
/** Keep the sources' stores here across runs (pushes then skip the blobs already there). */
const STORES = args.includes("--stores") ? resolve(option("--stores", "")) : undefined;
/** Copy each destination's log here. */
const LOGS = args.includes("--logs") ? resolve(option("--logs", "")) : undefined;
/** Every link's rate times this (a diagnostic: 0.1 shows the schedules where the machine's CPU keeps up). */
const SCALE = Number(option("--scale", "1"));
const ONLY = args.includes("--only") ? option("--only", "").split(",") : undefined;
const MBIT = 125_000; // bytes per second
const MB = 1e6;

const DEST = { name: "dst", address: "127.0.0.2" };
/**
 * The sources, in the destination's peer order (single-source takes the first holder in this
 * order: the 100 Mbit/s site, which holds the whole image, like the plain registry beside it).
 * Images pushed at each, in order: every chunk of the pulled image (python: the bookworm
 * minbase layer plus python's) is held by two to four sources.
 */
const SOURCES = [
  { name: "s100", address: "127.0.0.13", mbit: 100, images: ["python"] },
  { name: "s200", address: "127.0.0.14", mbit: 200, images: ["python-old", "minbase"] },
  { name: "s50", address: "127.0.0.12", mbit: 50, images: ["python-old", "node"] },
  { name: "s20", address: "127.0.0.11", mbit: 20, images: ["python"] },
];
const REGISTRY_PORT = 5000;
const PEER_PORT = 5001;
const PLAIN_PORT = 5002;
const PLAIN_SITE = SOURCES.find((s) => s.mbit === 100)!;
/** The first source holding the pulled image: its repository is the one pulled, and it answers for the image's recipes. */
const HOLDER = SOURCES.find((s) => s.images.includes(IMAGE));
/** The link slowed 5x mid-transfer, and when (a fraction of the steady lower bound after the pull starts). */
const SLOWED = SOURCES.find((s) => s.mbit === 200)!;
const SLOW_FACTOR = 5;
const SLOW_AT_FRACTION = 0.5;
const linkSpec = (source: { address: string }, mbit: number) => `${source.address}>${DEST.address}=${Math.round(mbit * 1000)}kbit`;
/** A source's configured link rate in Mbit/s, as run. */
const mbitOf = (source: { mbit: number }) => source.mbit * SCALE;

if (HOLDER === undefined) {
  console.error(`--image ${IMAGE}: no source holds it (${SOURCES.map((s) => `${s.name}: ${s.images.join(", ")}`).join("; ")})`);
  process.exit(2);
}
if (process.env.DOCKER_DEDUP_TESTBED !== "1") {
  if (!existsSync(join(DATASET, "images", IMAGE, "manifest.json"))) {
    console.error(`no image ${IMAGE} in ${DATASET}: run bench/dataset/deps.sh && bench/dataset/build.sh`);
    process.exit(2);
  }
  const links = SOURCES.flatMap((s) => ["--link", linkSpec(s, mbitOf(s))]);
  const child = spawnSync(TESTBED_SCRIPT, ["run", ...links, "--", process.execPath, fileURLToPath(import.meta.url), ...args], { stdio: "inherit" });
  process.exit(child.status ?? 1);
}

// ---------------------------------------------------------------- inside the testbed

const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-sites-bench-"));
const children: ChildProcess[] = [];
function cleanup() {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(scratch, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => (cleanup(), process.exit(130)));

const secret = randomBytes(24).toString("hex");
const secretFile = join(scratch, "peer-secret");
writeFileSync(secretFile, `${secret}\n`);
const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

interface Served {
  name: string;
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  logFile: string;
}

/** Starts `docker-dedup serve` with these arguments; resolves once it listens. */
async function serve(name: string, serveArgs: string[]): Promise<Served> {
  const logFile = join(scratch, `${name}-${Date.now()}.log`);
  const out = createWriteStream(logFile);
  const profile = process.env.SITES_BENCH_PROFILE !== undefined && name.startsWith("dst") ? ["--cpu-prof", "--cpu-prof-dir", process.env.SITES_BENCH_PROFILE] : [];
  const child = spawn(process.execPath, [...profile, CLI, "serve", ...serveArgs], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  let text = "";
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stderr!.on("data", (data: Buffer) => {
      out.write(data);
      if (text.length < 100_000) text += data.toString();
      const match = /registry listening on (https?:\/\/\S+)/.exec(text);
      if (match) resolveUrl(match[1]!);
    });
    child.on("exit", () => reject(new Error(`${name} exited: ${text}`)));
  });
  return { name, url, child, exited, logFile };
}

async function stop(served: Served): Promise<void> {
  served.child.kill("SIGTERM");
  await served.exited;
}

function startSource(source: (typeof SOURCES)[number]): Promise<Served> {
  return serve(source.name, [
    "--store", join(STORES ?? scratch, source.name),
    "--listen", `${source.address}:${REGISTRY_PORT}`,
    "--site", source.name,
    "--peer-listen", `${source.address}:${PEER_PORT}`,
    "--peer-secret-file", secretFile,
  ]);
}

/** A fresh destination site (empty store) knowing the four sources; `seeded`: link estimates start at the configured rates. */
async function startDestination(policy: SchedulePolicy, seeded: boolean): Promise<{ served: Served; store: string }> {
  const store = join(scratch, `dst-store-${Date.now()}`);
  const config = join(scratch, `dst-${Date.now()}.json`);
  const peers = SOURCES.map((s) => ({ name: s.name, url: `http://${s.address}:${PEER_PORT}`, ...(seeded ? { bandwidth: mbitOf(s) } : {}) }));
  writeFileSync(config, JSON.stringify({ site: DEST.name, peerListen: `${DEST.address}:${PEER_PORT}`, peerSecretFile: secretFile, peers, schedule: policy }));
  const served = await serve(`dst-${policy}`, ["--store", store, "--listen", `${DEST.address}:${REGISTRY_PORT}`, "--config", config]);
  return { served, store };
}

// ---------------------------------------------------------------- HTTP, from a chosen local address

function get(url: string, headers: Record<string, string> = {}, localAddress?: string): Promise<IncomingMessage> {
  return new Promise((resolveRes, reject) => {
    const req = request(url, { headers, localAddress }, resolveRes);
    req.on("error", reject);
    req.end();
  });
}

async function readBody(res: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of res as AsyncIterable<Buffer>) parts.push(part);
  return Buffer.concat(parts);
}

/** Streams a blob and checks its digest; returns its size. */
async function pullBlob(base: string, repo: string, digest: string, localAddress?: string): Promise<number> {
  const res = await get(`${base}/v2/${repo}/blobs/${digest}`, {}, localAddress);
  if (res.statusCode !== 200) throw new Error(`GET ${repo} blob ${digest}: ${res.statusCode} ${(await readBody(res)).toString().slice(0, 300)}`);
  const hash = createHash("sha256");
  let size = 0;
  for await (const part of res as AsyncIterable<Buffer>) {
    hash.update(part);
    size += part.length;
  }
  if (`sha256:${hash.digest("hex")}` !== digest) throw new Error(`${repo} blob ${digest}: digest mismatch`);
  return size;
}

/** A client's pull: the manifest by tag, then its config and layers at once. Seconds. */
async function pullImage(base: string, repo: string, tag: string, localAddress?: string): Promise<number> {
  const started = performance.now();
  const res = await get(`${base}/v2/${repo}/manifests/${tag}`, { Accept: OCI_MANIFEST }, localAddress);
  const body = await readBody(res);
  if (res.statusCode !== 200) throw new Error(`GET ${repo}:${tag}: ${res.statusCode} ${body.toString().slice(0, 300)}`);
  const manifest = JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  await Promise.all([manifest.config, ...manifest.layers].map((d) => pullBlob(base, repo, d.digest, localAddress)));
  return (performance.now() - started) / 1000;
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

async function push(base: string, repo: string, tag: string, image: string): Promise<void> {
  const dir = join(DATASET, "images", image);
  const manifest = readFileSync(join(dir, "manifest.json"));
  const parsed = JSON.parse(manifest.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  for (const { digest } of [parsed.config, ...parsed.layers]) {
    const head = await fetch(`${base}/v2/${repo}/blobs/${digest}`, { method: "HEAD" });
    if (head.status === 200) continue;
    const data = readFileSync(join(dir, digest.slice("sha256:".length)));
    // One POST with the digest (docker-dedup), or POST then one PUT (distribution 2.8 ignores the digest on POST).
    let res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data, headers: { "Content-Type": "application/octet-stream" } });
    if (res.status === 202) {
      await res.arrayBuffer();
      const location = new URL(res.headers.get("location")!, base);
      location.searchParams.set("digest", digest);
      res = await fetch(location, { method: "PUT", body: data, headers: { "Content-Type": "application/octet-stream" } });
    }
    if (res.status !== 201) throw new Error(`push ${digest} to ${base}/${repo}: ${res.status} ${await res.text()}`);
  }
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } });
  if (res.status !== 201) throw new Error(`push manifest to ${base}/${repo}:${tag}: ${res.status} ${await res.text()}`);
}

async function hasTag(base: string, repo: string, tag: string): Promise<boolean> {
  try {
    const res = await fetch(`${base}/v2/${repo}/tags/list`);
    if (res.status !== 200) return (await res.arrayBuffer(), false);
    return ((await res.json()) as { tags: string[] }).tags.includes(tag);
  } catch {
    return false;
  }
}

/** docker-registry (CNCF distribution) on the 100 Mbit/s site's address. */
async function startPlainRegistry(): Promise<ChildProcess> {
  const dir = join(scratch, "plain");
  mkdirSync(dir);
  const config = join(dir, "config.yml");
  writeFileSync(config, ["version: 0.1", "log: {level: warn, accesslog: {disabled: true}}", "storage:", `  filesystem: {rootdirectory: ${join(dir, "data")}}`, "http:", `  addr: ${PLAIN_SITE.address}:${PLAIN_PORT}`, ""].join("\n"));
  const child = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  children.push(child);
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${PLAIN_SITE.address}:${PLAIN_PORT}/v2/`)).status === 200) return child;
    } catch {
      // not yet listening
    }
    await sleep(50);
  }
  throw new Error("docker-registry did not start");
}

// ---------------------------------------------------------------- what the destination lacks, and the bound

interface Missing {
  ids: ChunkId[];
  stored: Uint32Array;
  /** Holder masks, bit s = SOURCES[s]. */
  holders: Uint32Array;
  plainBytes: number;
  /** Bytes of the blobs' recipes in the peer protocol (a destination lacks those too). */
  recipeBytes: number;
}

const peerOf = (address: string, name: string) => new PeerClient({ name, url: `http://${address}:${PEER_PORT}` }, { secret });

/** The image's blobs (manifest, config, layers): their distinct chunks, stored sizes (from a holder), and which sources hold each. */
async function imageChunks(image: string): Promise<Missing & { blobs: string[] }> {
  const dir = join(DATASET, "images", image);
  const manifest = readFileSync(join(dir, "manifest.json"));
  const parsed = JSON.parse(manifest.toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const blobs = [sha256(manifest), parsed.config.digest, ...parsed.layers.map((l) => l.digest)];
  const holder = peerOf(HOLDER!.address, HOLDER!.name);
  const recipes: Recipe[] = [];
  for (const digest of blobs) {
    const recipe = await holder.recipe(digest);
    if (recipe === undefined) throw new Error(`${HOLDER!.name} lacks ${digest}`);
    recipes.push(recipe);
  }
  const recipeBytes = sum(recipes.map((recipe) => encodeRecipe(recipe).length));
  const { ids, lengths: plain } = distinctChunks(recipes);
  const stored = new Uint32Array(ids.length);
  for (let from = 0; from < ids.length; from += 1024) {
    let k = from;
    for await (const frame of holder.chunks(ids.slice(from, from + 1024))) stored[k++] = frame!.length;
  }
  const holders = new Uint32Array(ids.length);
  for (const [s, source] of SOURCES.entries()) {
    const peer = peerOf(source.address, source.name);
    (await peer.has(ids)).forEach((held, k) => held && (holders[k]! |= 1 << s));
    peer.close();
  }
  holder.close();
  return { blobs, ids, stored, holders, plainBytes: plain.reduce((a, b) => a + b, 0), recipeBytes };
}

/** The chunks of `all` that the destination lacks now (asked through its peer API). */
async function lacking(all: Missing): Promise<Missing> {
  const dest = peerOf(DEST.address, DEST.name);
  const held = await dest.has(all.ids);
  dest.close();
  const keep = held.flatMap((h, k) => (h ? [] : [k]));
  return { ids: keep.map((k) => all.ids[k]!), stored: Uint32Array.from(keep.map((k) => all.stored[k]!)), holders: Uint32Array.from(keep.map((k) => all.holders[k]!)), plainBytes: NaN, recipeBytes: all.recipeBytes };
}

const rates = (mbit: (s: (typeof SOURCES)[number]) => number) => SOURCES.map((s) => mbit(s) * MBIT);
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0);

/** planTransfer's bound and each policy's predicted makespan, for these chunks over steady links. */
function bounds(missing: Missing, bandwidth: number[]): { lowerBound: number; predicted: Record<SchedulePolicy, number> } {
  const chunks = { sizes: missing.stored, holders: missing.holders };
  const predicted = {} as Record<SchedulePolicy, number>;
  let lowerBound = 0;
  for (const policy of ["network-aware", "random", "single-source"] as const) {
    const plan = planTransfer(chunks, { bandwidth }, { policy });
    predicted[policy] = plan.makespan;
    lowerBound = plan.lowerBound;
  }
  return { lowerBound, predicted };
}

/**
 * The bound when link `slowed` drops to 1/factor of its rate at time `at`: the least t such that
 * the max-flow makespan over the average rates each link offers in [0, t] is at most t.
 */
function slowedBound(missing: Missing, bandwidth: number[], slowed: number, factor: number, at: number): number {
  const chunks = { sizes: missing.stored, holders: missing.holders };
  const feasible = (t: number) => {
    const average = bandwidth.map((b, s) => (s !== slowed || t <= at ? b : (b * at + (b / factor) * (t - at)) / t));
    return planTransfer(chunks, { bandwidth: average }, { policy: "network-aware" }).lowerBound <= t;
  };
  let lo = 0;
  let hi = 1;
  while (!feasible(hi)) hi *= 2;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---------------------------------------------------------------- measurements

interface Result {
  scenario: string;
  links: "steady" | "slowed";
  run: number;
  seconds: number;
  lowerBound: number;
  linkBytes: number[];
  missingBytes: number;
  /** The recipes of the blobs the destination lacked. */
  recipeBytes: number;
  replans: number;
  notes: string;
  /** CPU seconds the destination used during the pull. */
  cpu?: number;
  /** CPU seconds the four sources used meanwhile. */
  sourcesCpu?: number;
  packets?: number;
  retransmits?: number;
  /** The 1-minute load average when the pull ended. */
  load?: number;
  /** Seconds after the pull started when each link carried its last byte (sampled). */
  finished?: number[];
}

/** CPU seconds (user + system) a process used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples the links' counters every 200 ms; `stop` gives, per link, when its counter last moved. */
function sampleLinks(start: number[]): { stop(): Promise<number[]> } {
  const t0 = performance.now();
  const last = [...start];
  const finished = start.map(() => 0);
  let running = true;
  const loop = (async () => {
    while (running) {
      await sleep(200);
      const now = await counters();
      const t = (performance.now() - t0) / 1000;
      now.forEach((b, s) => {
        if (b - last[s]! > 2000) finished[s] = t;
        last[s] = b;
      });
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return finished;
    },
  };
}

async function counters(): Promise<number[]> {
  const all = await linkCounters();
  return SOURCES.map((s) => all.find((c) => c.link === `${s.address}>${DEST.address}`)?.bytes ?? NaN);
}

/** Packets over the four links, and TCP segments retransmitted in the namespace, so far. */
async function packetsAndRetransmits(): Promise<[number, number]> {
  const all = await linkCounters();
  const packets = sum(SOURCES.map((s) => all.find((c) => c.link === `${s.address}>${DEST.address}`)?.packets ?? NaN));
  const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0]!.split(" ");
  const values = lines[1]!.split(" ");
  return [packets, Number(values[names.indexOf("RetransSegs")])];
}

async function measureSite(policy: SchedulePolicy, seeded: boolean, slowed: boolean, all: Missing, bound: number, slowAt: number, run: number): Promise<Result> {
  const { served, store } = await startDestination(policy, seeded);
  const lastTags = SOURCES.map((s) => ({ repo: `${s.name}/${s.images.at(-1)!}`, tag: "latest" }));
  const waitStart = Date.now();
  while (!(await Promise.all(lastTags.map((t) => hasTag(served.url, t.repo, t.tag)))).every(Boolean)) {
    if (Date.now() - waitStart > 60_000) throw new Error(`destination did not replicate the sources' tags: ${readFileSync(served.logFile, "utf8")}`);
    await sleep(100);
  }
  const missing = await lacking(all);
  const packetsBefore = await packetsAndRetransmits();
  const before = await counters();
  const cpuBefore = cpuSeconds(served.child.pid!);
  const sourcesCpuBefore = sum(sourcePids.map(cpuSeconds));
  let slowTimer: NodeJS.Timeout | undefined;
  let slowedAt: Promise<void> = Promise.resolve();
  if (slowed) slowTimer = setTimeout(() => (slowedAt = setLinks(linkSpec(SLOWED, mbitOf(SLOWED) / SLOW_FACTOR))), slowAt * 1000);
  const timeline = sampleLinks(before);
  const seconds = await pullImage(served.url, `${HOLDER!.name}/${IMAGE}`, "latest");
  const cpu = cpuSeconds(served.child.pid!) - cpuBefore;
  const sourcesCpu = sum(sourcePids.map(cpuSeconds)) - sourcesCpuBefore;
  const finished = await timeline.stop();
  clearTimeout(slowTimer);
  await slowedAt;
  const after = await counters();
  const packetsAfter = await packetsAndRetransmits();
  if (slowed) await setLinks(linkSpec(SLOWED, mbitOf(SLOWED)));
  await stop(served);
  const text = readFileSync(served.logFile, "utf8");
  if (LOGS !== undefined) {
    mkdirSync(LOGS, { recursive: true });
    writeFileSync(join(LOGS, `${policy}${seeded ? "" : "-unseeded"}${slowed ? "-slowed" : ""}-run${run}.log`), text);
  }
  const replans = (text.match(/planning .* again/g) ?? []).length;
  const problems = text.split("\n").filter((l) => /failed|corrupt|lacks/.test(l));
  rmSync(store, { recursive: true, force: true });
  const name = `docker-dedup ${policy}${policy === "network-aware" ? (seeded ? ", seeded" : ", unseeded") : ""}`;
  return { scenario: name, links: slowed ? "slowed" : "steady", run, seconds, lowerBound: bound, linkBytes: after.map((b, s) => b - before[s]!), missingBytes: sum(missing.stored), recipeBytes: missing.recipeBytes, replans, notes: problems.slice(0, 3).join(" | "), cpu, sourcesCpu, finished, load: loadavg()[0]!, packets: packetsAfter[0] - packetsBefore[0], retransmits: packetsAfter[1] - packetsBefore[1] };
}

async function measurePlain(layerBytes: number, missingBytes: number, run: number): Promise<Result> {
  const before = await counters();
  const seconds = await pullImage(`http://${PLAIN_SITE.address}:${PLAIN_PORT}`, `ds/${IMAGE}`, "latest", DEST.address);
  const after = await counters();
  return { scenario: `plain registry at ${PLAIN_SITE.name} (whole layers)`, links: "steady", run, seconds, lowerBound: layerBytes / (mbitOf(PLAIN_SITE) * MBIT), linkBytes: after.map((b, s) => b - before[s]!), missingBytes, recipeBytes: 0, replans: 0, notes: "" };
}

// ---------------------------------------------------------------- main

const results: Result[] = [];
const sourcePids: number[] = [];
try {
  const load = [loadavg()[0]!.toFixed(2)];
  log(`load average ${load[0]}; scratch ${scratch}`);
  const sources = await Promise.all(SOURCES.map(startSource));
  sourcePids.push(...sources.map((s) => s.child.pid!));
  const pushStart = performance.now();
  await Promise.all(
    SOURCES.map(async (source, s) => {
      for (const image of source.images) await push(sources[s]!.url, `${source.name}/${image}`, "latest", image);
    }),
  );
  log(`pushed the sources' images in ${((performance.now() - pushStart) / 1000).toFixed(1)} s`);
  await startPlainRegistry();
  await push(`http://${PLAIN_SITE.address}:${PLAIN_PORT}`, `ds/${IMAGE}`, "latest", IMAGE);

  const all = await imageChunks(IMAGE);
  const manifest = JSON.parse(readFileSync(join(DATASET, "images", IMAGE, "manifest.json"), "utf8")) as { config: { size: number }; layers: { size: number }[] };
  const blobBytes = manifest.config.size + sum(manifest.layers.map((l) => l.size));
  const steady = bounds(all, rates(mbitOf));
  const slowAt = SLOW_AT_FRACTION * steady.lowerBound;
  const slowedLb = slowedBound(all, rates(mbitOf), SOURCES.indexOf(SLOWED), SLOW_FACTOR, slowAt);
  const holderCounts = [1, 2, 3, 4].map((n) => all.holders.filter((m) => popcount(m) === n).length);
  const summary = {
    image: IMAGE,
    blobBytes,
    chunks: all.ids.length,
    distinctPlainBytes: all.plainBytes,
    storedBytes: sum(all.stored),
    recipeBytes: all.recipeBytes,
    chunksByHolderCount: holderCounts,
    bytesHeldPerSource: SOURCES.map((s, i) => [s.name, sum(Array.from(all.stored).filter((_, k) => all.holders[k]! & (1 << i)))]),
    lowerBound: steady.lowerBound,
    predicted: steady.predicted,
    slowAt,
    slowedLowerBound: slowedLb,
  };
  log(`image ${IMAGE}: ${JSON.stringify(summary)}`);

  type Plan = { key: string; run: (r: number) => Promise<Result> };
  const plans: Plan[] = [
    { key: "na", run: (r) => measureSite("network-aware", true, false, all, steady.lowerBound, slowAt, r) },
    { key: "na-unseeded", run: (r) => measureSite("network-aware", false, false, all, steady.lowerBound, slowAt, r) },
    { key: "random", run: (r) => measureSite("random", true, false, all, steady.lowerBound, slowAt, r) },
    { key: "single", run: (r) => measureSite("single-source", true, false, all, steady.lowerBound, slowAt, r) },
    { key: "plain", run: (r) => measurePlain(blobBytes, sum(all.stored), r) },
    { key: "na-slowed", run: (r) => measureSite("network-aware", true, true, all, slowedLb, slowAt, r) },
    { key: "na-unseeded-slowed", run: (r) => measureSite("network-aware", false, true, all, slowedLb, slowAt, r) },
    { key: "random-slowed", run: (r) => measureSite("random", true, true, all, slowedLb, slowAt, r) },
    { key: "single-slowed", run: (r) => measureSite("single-source", true, true, all, slowedLb, slowAt, r) },
  ];
  for (let r = 1; r <= RUNS; r++) {
    for (const plan of plans) {
      if (ONLY !== undefined && !ONLY.includes(plan.key)) continue;
      const result = await plan.run(r);
      results.push(result);
      log(`${result.scenario} (${result.links}, run ${r}): ${result.seconds.toFixed(2)} s, bound ${result.lowerBound.toFixed(2)} s, links ${result.linkBytes.map((b) => (b / MB).toFixed(1)).join("/")} MB for ${(result.missingBytes / MB).toFixed(1)} MB missing, ${result.replans} replans, links done at ${(result.finished ?? []).map((t) => t.toFixed(1)).join("/")} s, CPU dest ${result.cpu?.toFixed(1)} s, sources ${result.sourcesCpu?.toFixed(1)} s, load ${result.load?.toFixed(1)}, ${result.packets} packets, ${result.retransmits} retransmits ${result.notes}`);
      writeFileSync(JSON_OUT, JSON.stringify({ summary, load, results }, null, 1));
    }
  }
  load.push(loadavg()[0]!.toFixed(2));
  writeFileSync(JSON_OUT, JSON.stringify({ summary, load, results }, null, 1));
  printTable(summary, load);
  for (const s of sources) await stop(s);
} finally {
  cleanup();
}

function popcount(m: number): number {
  let n = 0;
  for (; m; m &= m - 1) n++;
  return n;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function printTable(summary: { storedBytes: number; recipeBytes: number }, load: string[]): void {
  const groups = new Map<string, Result[]>();
  for (const r of results) groups.set(`${r.scenario}|${r.links}`, [...(groups.get(`${r.scenario}|${r.links}`) ?? []), r]);
  const scale = SCALE === 1 ? "" : ` (links x${SCALE})`;
  const lines = [
    `| pull of ${IMAGE}${scale} | links | time (s) | lower bound (s) | time / bound | MB sent by ${SOURCES.map((s) => s.name).join(" / ")} | link bytes / missing chunk bytes | / missing chunks + recipes | replans | TCP retransmits | destination CPU (s) |`,
    "|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const rs of groups.values()) {
    const r = rs[0]!;
    const seconds = median(rs.map((x) => x.seconds));
    const runs = rs.length > 1 ? ` (${rs.map((x) => x.seconds.toFixed(1)).join(", ")})` : "";
    const linkBytes = SOURCES.map((_, s) => median(rs.map((x) => x.linkBytes[s]!)));
    const site = r.recipeBytes > 0 || r.cpu !== undefined;
    const optional = (f: (x: Result) => number | undefined, digits: number) => (rs.every((x) => f(x) !== undefined) ? median(rs.map((x) => f(x)!)).toFixed(digits) : "-");
    lines.push(
      `| ${r.scenario} | ${r.links} | ${seconds.toFixed(2)}${runs} | ${r.lowerBound.toFixed(2)} | ${(seconds / r.lowerBound).toFixed(2)} | ${linkBytes.map((b) => (b / MB).toFixed(1)).join(" / ")} | ${(sum(linkBytes) / r.missingBytes).toFixed(3)} | ${site ? (sum(linkBytes) / (r.missingBytes + r.recipeBytes)).toFixed(3) : "-"} | ${median(rs.map((x) => x.replans))} | ${optional((x) => x.retransmits, 0)} | ${optional((x) => x.cpu, 1)} |`,
    );
  }
  console.log(lines.join("\n"));
  console.log(`\nmissing: ${(summary.storedBytes / MB).toFixed(2)} MB of stored chunks, ${(summary.recipeBytes / MB).toFixed(2)} MB of recipes; load average ${load.join(" -> ")}`);
}
