/**
 * Garbage collection's benchmark (issue 14), in one run:
 *
 * 1. Throughput. The dataset's five images pushed with skopeo to a `docker-dedup serve` (its own
 *    collections off), one repository per image; then the two older images untagged, the serve
 *    stopped, and `docker-dedup gc --grace 0 --keep-untagged 0` run until a pass frees nothing more
 *    (the retention removes the untagged manifests and their layers' links, the collection their
 *    bytes); then the same for the other three. The serve is stopped because a `gc` beside it
 *    leaves the pack it appends to alone (its own scheduled gc rolls it). Bytes given back: the
 *    store's blocks on disk (`du`) for the embedded store, Redis's `used_memory` for Redis. Each
 *    pass is a whole process, Node's start and the store's opening included.
 * 2. Beside pushes and pulls. Debian's docker-registry (distribution 2.8, the peer) and
 *    docker-dedup without collection, image by image; then a docker-dedup whose own scheduled
 *    collection runs every second (`--gc-interval 1s --gc-grace 5s --gc-keep-untagged 0`), the
 *    same sequence (started only then, so that its collections run beside its own figures only).
 *    Each image goes to a repository of its own, is pulled back, then untagged on both
 *    docker-dedups: the collections have the previous images to take apart while the next one
 *    arrives, and chunks they share are doomed, written back or deleted under the push.
 *
 *   npm run build && node dist/bench/gc.js [--dataset DIR] [--tags minbase,node] [--no-redis]
 *
 * Needs the dataset (bench/dataset/build.sh), skopeo and docker-registry; redis-server for the
 * Redis row. Uses the rigging of bench/rig.ts.
 */
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/e2e/reference-registry.js";
import { DEFAULT_DATASET, fetchAgain, MiB, onPath, option, Rig, seconds, skopeo, TAGS, when, type DockerDedup, type Target } from "./rig.js";

const args = process.argv.slice(2);
const DATASET = option(args, "--dataset") ?? DEFAULT_DATASET;
const IMAGES = option(args, "--tags")?.split(",") ?? TAGS;
const OLD = IMAGES.filter((tag) => tag.endsWith("-old"));
const CURRENT = IMAGES.filter((tag) => !tag.endsWith("-old"));
const rig = new Rig("docker-dedup-gc-bench-");

const repo = (tag: string) => `gc/${tag}`;
const push = (t: Target, tag: string) =>
  skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `dir:${join(DATASET, "images", tag)}`, `docker://${t.host}/${repo(tag)}:${tag}`]);
function pull(t: Target, tag: string): number {
  const out = join(rig.scratch, `pull-${tag}`);
  const time = skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${t.host}/${repo(tag)}:${tag}`, `dir:${out}`]);
  rmSync(out, { recursive: true, force: true });
  return time;
}
async function untag(t: Target, tag: string): Promise<void> {
  const res = await fetchAgain(`${t.url}/v2/${repo(tag)}/manifests/${tag}`, { method: "DELETE" });
  if (res.status !== 202) throw new Error(`${t.name}: DELETE of tag ${tag}: ${res.status} ${await res.text()}`);
}
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** A Redis of the benchmark's own, nothing saved to disk; its memory in use. */
async function startRedis(): Promise<{ url: string; usedBytes(): number }> {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", rig.scratch], { stdio: "ignore" });
  rig.after(() => child.kill("SIGTERM"));
  const cli = (...command: string[]) => execFileSync("redis-cli", ["-p", String(port), ...command], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  for (let i = 0; ; i++) {
    try {
      if (cli("ping").trim() === "PONG") break;
    } catch (error) {
      if (i >= 100) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url: `redis://127.0.0.1:${port}`, usedBytes: () => Number(/used_memory:(\d+)/.exec(cli("info", "memory"))![1]) };
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB };

/** What one `gc` report says it did: whether anything at all, and the stored bytes of the chunks it deleted. */
function passDid(report: string): { anything: boolean; chunkBytes: number } {
  const counts = [
    ...(/blobs: \d+ needed, (\d+) doomed now, \d+ brought back, (\d+) deleted/.exec(report) ?? []).slice(1),
    ...(/chunks: \d+ needed, (\d+) doomed now, \d+ brought back, (\d+) deleted/.exec(report) ?? []).slice(1),
    ...(/packs: (\d+) rewritten/.exec(report) ?? []).slice(1),
  ].map(Number);
  const stored = /chunks: .* deleted \(([\d.]+) (\w+) stored\)/.exec(report);
  return { anything: counts.some((n) => n > 0), chunkBytes: stored === null ? 0 : Number(stored[1]) * UNITS[stored[2]!]! };
}

/**
 * Untags `tags`, stops the serve, then runs gc passes until one does nothing (the first dooms
 * chunks, the next deletes them and rewrites packs): the bytes before and after, the stored bytes
 * of the chunks deleted, and the seconds of the passes that did something.
 */
async function reclaim(server: DockerDedup, bytesNow: () => number, tags: string[]): Promise<{ before: number; after: number; chunkBytes: number; seconds: number; passes: number }> {
  for (const tag of tags) await untag(server, tag);
  await server.stop();
  const before = bytesNow();
  let passes = 0;
  let taken = 0;
  let chunkBytes = 0;
  for (let i = 0; i < 6; i++) {
    const start = performance.now();
    const did = passDid(server.gc(["--grace", "0", "--keep-untagged", "0"]));
    if (!did.anything) break;
    taken += seconds(start);
    passes++;
    chunkBytes += did.chunkBytes;
  }
  const after = bytesNow();
  await server.start();
  return { before, after, chunkBytes, seconds: taken, passes };
}

async function throughput(): Promise<void> {
  const stores: { name: string; start: () => Promise<{ server: DockerDedup; bytes: () => number }> }[] = [
    {
      name: "embedded (disk)",
      start: async () => {
        const server = await rig.startDockerDedup("docker-dedup (embedded)", { args: ["--gc-interval", "0"] });
        return { server, bytes: () => server.diskBytes() };
      },
    },
  ];
  if (!args.includes("--no-redis") && onPath("redis-server")) {
    stores.push({
      name: "Redis (used_memory)",
      start: async () => {
        const redis = await startRedis();
        const server = await rig.startDockerDedup("docker-dedup (Redis)", { store: redis.url, args: ["--gc-interval", "0"] });
        return { server, bytes: redis.usedBytes };
      },
    });
  }
  console.log(`\n| store | images deleted | MB before | MB after | MB given back | chunks deleted, MB stored | gc passes | gc seconds | MB/s given back |\n|---|---|---|---|---|---|---|---|---|`);
  for (const store of stores) {
    const { server, bytes } = await store.start();
    for (const tag of IMAGES) push(server, tag);
    for (const [what, tags] of [[OLD.join(", "), OLD], [`then ${CURRENT.join(", ")}`, CURRENT]] as const) {
      if (tags.length === 0) continue;
      const r = await reclaim(server, bytes, tags);
      const freed = r.before - r.after;
      console.log(`| ${store.name} | ${what} | ${mb(r.before)} | ${mb(r.after)} | ${mb(freed)} | ${mb(r.chunkBytes)} | ${r.passes} | ${r.seconds.toFixed(2)} | ${r.seconds > 0 && freed > 0 ? (freed / 1e6 / r.seconds).toFixed(1) : "-"} |`);
    }
    await server.stop();
  }
}

/** Pushes, pulls back and untags each image on each target in turn: the seconds of each push and pull, by target. */
async function sequence(targets: Target[], untagged: Set<Target>): Promise<{ push: number[]; pull: number[] }[]> {
  const rows = [];
  for (const tag of IMAGES) {
    const push_ = targets.map((t) => push(t, tag));
    const pull_ = targets.map((t) => pull(t, tag));
    for (const t of targets) if (untagged.has(t)) await untag(t, tag);
    rows.push({ push: push_, pull: pull_ });
  }
  return rows;
}

async function beside(): Promise<void> {
  const reference = await rig.startReference("distribution 2.8");
  const quiet = await rig.startDockerDedup("docker-dedup, no gc", { args: ["--gc-interval", "0"] });
  const first = await sequence([reference, quiet], new Set([quiet]));
  await reference.stop();
  await quiet.stop();
  const busy = await rig.startDockerDedup("docker-dedup, gc every second", { args: ["--gc-interval", "1s", "--gc-grace", "5s", "--gc-keep-untagged", "0"] });
  const second = await sequence([busy], new Set([busy]));
  const busyAtOnce = busy.diskBytes();
  // Past the grace period, its collections take apart what the last images left.
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  await busy.stop();

  console.log(`\n| image | push: distribution | push: docker-dedup | push: docker-dedup, gc beside | pull: distribution | pull: docker-dedup | pull: docker-dedup, gc beside |\n|---|---|---|---|---|---|---|`);
  const totals = [0, 0, 0, 0, 0, 0];
  IMAGES.forEach((tag, i) => {
    const row = [...first[i]!.push, ...second[i]!.push, ...first[i]!.pull, ...second[i]!.pull];
    row.forEach((t, j) => (totals[j]! += t));
    console.log(`| ${tag} | ${row.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
  });
  console.log(`| all ${IMAGES.length} | ${totals.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
  const log = readdirSync(rig.scratch).filter((name) => /^docker-dedup-\d+\.log$/.test(name)).map((name) => readFileSync(join(rig.scratch, name), "utf8")).join("");
  const collections = log.match(/gc: packs: /g)?.length ?? 0;
  const failures = log.match(/gc: failed/g)?.length ?? 0;
  if (failures > 0) throw new Error(`${failures} collections failed beside the pushes`);
  console.log(`\nstore at the end (every image untagged): ${(quiet.diskBytes() / MiB).toFixed(1)} MiB without gc; with it ${(busyAtOnce / MiB).toFixed(1)} MiB at once, ${(busy.diskBytes() / MiB).toFixed(1)} MiB 20 s later; ${collections} collections that changed something`);
}

try {
  execFileSync("sh", ["-c", `cat ${DATASET}/layers/* > /dev/null`]); // same warm source for every push
  console.log(`gc benchmark: ${when()}; images ${IMAGES.join(", ")}`);
  await throughput();
  await beside();
  console.log(`\nended: ${when()}`);
} finally {
  await rig.cleanup();
}
