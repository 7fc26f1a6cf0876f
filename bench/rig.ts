/**
 * The rigging the registry benchmarks share (bench/registry.ts, bench/gzip.ts): a scratch
 * directory and the clean-ups that empty it, the re-run inside network, PID and mount namespaces,
 * `docker-dedup serve` and Debian's docker-registry (CNCF distribution 2.8) as servers that can
 * be stopped and started again over their data, dockerds on tmpfs, skopeo timed with its blob-info
 * cache deleted, `du`, peak RSS and CPU of a process, the digest-checking pull, timed GETs, and
 * dropping the page cache.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort, referenceRegistryConfig } from "../test/e2e/reference-registry.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const CLI = join(ROOT, "dist/src/cli/main.js");
export const DEFAULT_DATASET = "/var/tmp/docker-dedup-bench";
export const TAGS = ["minbase", "python", "node", "minbase-old", "python-old"];
export const MiB = 1024 * 1024;
const SKOPEO_CACHE = "/var/lib/containers/cache/blob-info-cache-v1.boltdb";
const IN_NAMESPACES = process.env.DOCKER_DEDUP_BENCH_NETNS === "1";
/** What running dockerd inside the namespaces takes. */
export const DOCKER_TOOLS = ["dockerd", "docker", "setpriv", "unshare", "ip"];

export const seconds = (start: number) => (performance.now() - start) / 1000;
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const onPath = (tool: string) => (process.env.PATH ?? "").split(":").some((dir) => existsSync(join(dir, tool)));
/** `--name value` from the arguments, if given. */
export const option = (args: string[], name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

/** Bytes in file system blocks under `path`, leaving out the paths given (relative to it). */
export function du(path: string, exclude: string[] = []): number {
  return Number(execFileSync("du", ["-sB1", ...exclude.map((e) => `--exclude=${join(path, e)}`), path], { encoding: "utf8" }).split("\t")[0]);
}

/** The process's peak resident set (VmHWM), in bytes. */
export const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

/** User + system CPU seconds the process (all its threads) has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/**
 * fetch() of an idempotent request, tried again (twice at most) when the connection was closed
 * before any answer: undici may reuse a kept-alive socket just as the server closes it for idling,
 * which a loaded machine makes likely.
 */
export async function fetchAgain(url: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      const code = ((error as Error).cause as { code?: string } | undefined)?.code;
      if (attempt >= 2 || (code !== "UND_ERR_SOCKET" && code !== "ECONNRESET")) throw error;
    }
  }
}

/** "2026-11-28 07:24:03 UTC, load average 1.02 0.98 0.91": for the header of a table. */
export function when(): string {
  return `${new Date().toISOString().slice(0, 19).replace("T", " ")} UTC, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`;
}

/**
 * Whether the docker figures run: unless --no-docker, inside new namespaces (enterNamespaces),
 * or skipped with the reason on stderr where that cannot be done.
 */
export function dockerFiguresWanted(script: string, args: string[]): boolean {
  if (args.includes("--no-docker")) return false;
  const namespaces = enterNamespaces(script, args);
  if (!namespaces.ok) console.error(`docker figures skipped: ${namespaces.why} (or pass --no-docker)`);
  return namespaces.ok;
}

/**
 * Makes sure the calling benchmark runs inside new network, PID and mount namespaces (`unshare`)
 * holding only `lo`: re-runs it there, and exits with its status, unless it already is there.
 * Servers and dockerds started inside can reach nothing else, and none outlives the run (this
 * process is the namespace's PID 1). Answers why not, if it cannot (not root, a tool missing).
 */
export function enterNamespaces(script: string, args: string[]): { ok: true } | { ok: false; why: string } {
  if (IN_NAMESPACES) return { ok: true };
  const missing = DOCKER_TOOLS.filter((tool) => !onPath(tool));
  if (process.getuid?.() !== 0 || missing.length > 0) return { ok: false, why: `they need root and ${missing.join(", ") || "dockerd"}` };
  const child = spawnSync(
    "setpriv",
    ["--pdeathsig", "SIGKILL", "unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
      "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, ...process.execArgv, fileURLToPath(script), ...args],
    { stdio: "inherit", env: { ...process.env, DOCKER_DEDUP_BENCH_NETNS: "1" } },
  );
  process.exit(child.status ?? 1);
}

/** Empties the kernel's page cache (after a sync); false if not permitted. */
export function dropCaches(): boolean {
  try {
    execFileSync("sync");
    writeFileSync("/proc/sys/vm/drop_caches", "3");
    return true;
  } catch {
    return false;
  }
}

/** `skopeo ARGS`, its blob-info cache deleted first (it would substitute or mount blobs it saw before); seconds taken. */
export function skopeo(args: string[]): number {
  rmSync(SKOPEO_CACHE, { force: true });
  const start = performance.now();
  execFileSync("skopeo", args, { stdio: ["ignore", "ignore", "pipe"] });
  return seconds(start);
}

/** A registry a benchmark talks to. */
export interface Target {
  name: string;
  url: string;
  host: string;
  pid: number;
  diskBytes: () => number;
}

/** A server process that can be stopped and started again over the same data and port. */
abstract class Server implements Target {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly host: string;
  protected child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** The server's last lines of output, for errors. */
  protected tail = "";

  constructor(name: string, port: number) {
    this.name = name;
    this.port = port;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  abstract diskBytes(): number;
  protected abstract spawn(): ChildProcess;
  protected abstract onLine(line: string): void;

  async start(): Promise<void> {
    const child = this.spawn();
    this.child = child;
    this.#exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      this.tail = (this.tail + line + "\n").slice(-4000);
      this.onLine(line);
    });
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${this.name} exited: ${this.tail}`);
      try {
        if ((await fetch(`${this.url}/v2/`)).ok) return;
      } catch {
        // not listening yet
      }
      if (i >= 600) throw new Error(`${this.name} did not start: ${this.tail}`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await this.#exited;
    clearTimeout(killer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

/** How a gzip layer ended in a docker-dedup store, from serve's log. */
export interface Conversion {
  at: number;
  outcome: "content" | "kept" | "failed";
  /** The encoder that re-creates it, or why it was kept. */
  detail: string;
}

/** `docker-dedup serve` over a store of its own. */
export class DockerDedup extends Server {
  readonly store: string;
  /** serve's arguments besides --store and --listen; change them before a restart. */
  args: string[];
  /** Every gzip layer whose conversion ended, over restarts. */
  readonly conversions = new Map<string, Conversion>();
  readonly #log: number;
  #waiters: (() => void)[] = [];
  #warmedUp = false;

  constructor(name: string, port: number, store: string, args: string[], log: string) {
    super(name, port);
    this.store = store;
    this.args = args;
    this.#log = openSync(log, "a");
  }

  get gzipCacheDir(): string {
    const at = this.args.indexOf("--gzip-cache-dir");
    return at >= 0 ? this.args[at + 1]! : join(this.store, "gzip-cache");
  }

  /** The store's blocks on disk, without the cache of re-created gzip layers. */
  diskBytes(): number {
    return du(this.store, ["gzip-cache"]);
  }

  gzipCacheBytes(): number {
    return existsSync(this.gzipCacheDir) ? du(this.gzipCacheDir) : 0;
  }

  /** With DOCKER_DEDUP_BENCH_PROFILE=DIR, each serve writes a CPU profile of its main thread there when it stops. */
  protected spawn(): ChildProcess {
    const profile = process.env.DOCKER_DEDUP_BENCH_PROFILE === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", process.env.DOCKER_DEDUP_BENCH_PROFILE];
    return spawn(process.execPath, [...profile, CLI, "serve", "--store", this.store, "--listen", this.host, ...this.args], { stdio: ["ignore", "ignore", "pipe"] });
  }

  /** Starts serve; `warmedUp()` then waits for this start's warm-up of the gzip encoders. */
  override async start(): Promise<void> {
    this.#warmedUp = false;
    await super.start();
  }

  protected onLine(record: string): void {
    const line = DockerDedup.message(record);
    writeSync(this.#log, `${record}\n`);
    if (/^gzip encoders (?:warmed up|not warmed up)/.test(line)) {
      this.#warmedUp = true;
      for (const wake of this.#waiters.splice(0)) wake();
      return;
    }
    const m = /^gzip (sha256:[0-9a-f]{64}): (?:stored as its content \S+ \((.*)\)|kept as its compressed bytes: (.*)|(conversion failed.*))$/.exec(line);
    if (m === null) return;
    const outcome = m[2] !== undefined ? "content" : m[3] !== undefined ? "kept" : "failed";
    this.conversions.set(m[1]!, { at: performance.now(), outcome, detail: m[2] ?? m[3] ?? m[4]! });
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * The message of one line of serve's stderr: a JSON record's `msg` (pino, when stderr is not a
   * terminal), or a plain line without its "docker-dedup: " prefix (serve before pino).
   */
  static message(line: string): string {
    if (line.startsWith("{")) {
      try {
        const msg = (JSON.parse(line) as { msg?: unknown }).msg;
        return typeof msg === "string" ? msg : line;
      } catch {
        return line;
      }
    }
    return line.startsWith("docker-dedup: ") ? line.slice("docker-dedup: ".length) : line;
  }

  /** Waits until serve logged the end of each of these gzip layers' conversion; answers when the last ended (performance.now()). */
  async converted(digests: string[], timeoutMs = 30 * 60_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const missing = digests.filter((d) => !this.conversions.has(d));
      if (missing.length === 0) return Math.max(0, ...digests.map((d) => this.conversions.get(d)!.at));
      if (performance.now() > deadline) throw new Error(`${this.name}: no conversion of ${missing.join(", ")} after ${timeoutMs / 1000} s`);
      await this.#news();
    }
  }

  /**
   * Waits until serve logged the end of its start's warm-up of the gzip encoders (a store with
   * gzip layers stored as their content logs one), as a server up for more than a few seconds has.
   */
  async warmedUp(timeoutMs = 120_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#warmedUp) {
      if (performance.now() > deadline) throw new Error(`${this.name}: no warm-up of the gzip encoders logged after ${timeoutMs / 1000} s`);
      await this.#news();
    }
  }

  /** Resolves at the next conversion or warm-up serve logs, or after a second. */
  #news(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** `docker-dedup stats --json` of the store (beside the running serve or not). */
  stats(): { blobs: number; chunks: number; unreferencedChunks: number; unreferencedStoredBytes: number; storedBytes: number; gzip: { asContent: number; kept: { digest: string; reason: string }[]; pending: number } } {
    return JSON.parse(execFileSync(process.execPath, [CLI, "stats", "--store", this.store, "--json"], { encoding: "utf8" }));
  }

  /** `docker-dedup gc --store STORE ARGS`: its report. */
  gc(args: string[]): string {
    return execFileSync(process.execPath, [CLI, "gc", "--store", this.store, ...args], { encoding: "utf8" });
  }
}

/** Debian's docker-registry (distribution 2.8.2), filesystem storage in the scratch directory. */
export class Reference extends Server {
  readonly dataDir: string;
  readonly #config: string;

  constructor(name: string, port: number, dir: string) {
    super(name, port);
    mkdirSync(dir, { recursive: true });
    this.dataDir = join(dir, "data");
    this.#config = join(dir, "config.yml");
    writeFileSync(this.#config, referenceRegistryConfig(this.dataDir, port));
  }

  diskBytes(): number {
    return existsSync(this.dataDir) ? du(this.dataDir) : 0;
  }

  protected spawn(): ChildProcess {
    return spawn("docker-registry", ["serve", this.#config], { stdio: ["ignore", "ignore", "pipe"] });
  }

  protected onLine(): void {}
}

/** Runs the docker CLI against one dockerd; answers the seconds taken. */
export interface Docker {
  (args: string[]): number;
  /** The IDs of all images it holds. */
  images(): string;
}

/**
 * A scratch directory and what to undo at the end (in reverse order), on a normal end and on
 * SIGINT/SIGTERM alike; the servers and dockerds a benchmark starts live there. The directory
 * (servers' data and logs) stays when DOCKER_DEDUP_BENCH_KEEP=1.
 */
export class Rig {
  readonly scratch: string;
  readonly #cleanups: (() => unknown)[] = [];
  #servers = 0;

  constructor(prefix: string) {
    this.scratch = mkdtempSync(join(tmpdir(), prefix));
    // Inside the PID namespace this process is PID 1, which ignores signals it has no handler for.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      process.once(signal, () => void this.cleanup().finally(() => process.exit(130)));
    }
  }

  after(fn: () => unknown): void {
    this.#cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        console.error(`clean-up: ${(error as Error).message}`);
      }
    }
    if (process.env.DOCKER_DEDUP_BENCH_KEEP === "1") console.error(`scratch directory kept: ${this.scratch}`);
    else rmSync(this.scratch, { recursive: true, force: true });
  }

  /** A `docker-dedup serve` on a fresh store (or `store`) in the scratch directory, with `args` besides --store and --listen. */
  async startDockerDedup(name = "docker-dedup", options: { store?: string; args?: string[] } = {}): Promise<DockerDedup> {
    const id = this.#servers++;
    const server = new DockerDedup(name, await freePort(), options.store ?? join(this.scratch, `docker-dedup-store-${id}`), options.args ?? [], join(this.scratch, `docker-dedup-${id}.log`));
    this.after(() => server.stop());
    await server.start();
    return server;
  }

  /** A docker-registry with empty storage. */
  async startReference(name: string): Promise<Reference> {
    const server = new Reference(name, await freePort(), join(this.scratch, `reference-${this.#servers++}`));
    this.after(() => server.stop());
    await server.start();
    return server;
  }

  /**
   * A dockerd (no bridge, no iptables) with its state in scratch/NAME, a tmpfs mounted in this
   * benchmark's own mount namespace: on disk, the writeback of the layers extracted by earlier
   * pulls made pull times vary by 3x from one run to the next. The registries are insecure
   * (plain HTTP). DOCKER_DEDUP_BENCH_DOCKER_STORAGE picks its storage driver (overlay2).
   */
  async startDockerd(name: string, registries: string[]): Promise<Docker> {
    const dir = join(this.scratch, name);
    mkdirSync(dir);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", dir]);
    this.after(() => execFileSync("umount", [dir])); // runs after dockerd has stopped (clean-ups run in reverse)
    mkdirSync(join(dir, "data"), { recursive: true });
    writeFileSync(join(dir, "daemon.json"), "{}");
    const sock = `unix://${join(dir, "docker.sock")}`;
    const log = openSync(join(dir, "dockerd.log"), "w");
    const child: ChildProcess = spawn(
      "dockerd",
      ["--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none", `--storage-driver=${dockerStorage()}`,
        "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "dockerd.pid"), "-H", sock,
        "--config-file", join(dir, "daemon.json"), ...registries.flatMap((r) => ["--insecure-registry", r])],
      { stdio: ["ignore", log, log] },
    );
    closeSync(log); // dockerd has its own copy; ours would keep the tmpfs busy
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    this.after(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM"); // it stops its containerd too
      await exited;
    });
    const docker: Docker = (dockerArgs: string[]) => {
      const start = performance.now();
      execFileSync("docker", ["-H", sock, ...dockerArgs], { stdio: ["ignore", "ignore", "pipe"] });
      return seconds(start);
    };
    docker.images = () => execFileSync("docker", ["-H", sock, "images", "-aq"], { encoding: "utf8" }).trim();
    for (let i = 0; ; i++) {
      try {
        docker(["version"]);
        return docker;
      } catch (error) {
        if (i >= 300 || child.exitCode !== null) throw new Error(`dockerd did not start (see ${join(dir, "dockerd.log")}): ${(error as Error).message}\n${readFileSync(join(dir, "dockerd.log"), "utf8").slice(-2000)}`);
        await sleep(100);
      }
    }
  }
}

export const dockerStorage = () => process.env.DOCKER_DEDUP_BENCH_DOCKER_STORAGE ?? "overlay2";

/** A GET of `path` under the target's /v2/, every byte hashed: the body's digest, its bytes, and the body itself if asked. */
async function get(target: Target, path: string, options: { accept?: string; keep?: boolean } = {}): Promise<{ digest: string; bytes: number; body: Buffer; headers: Headers }> {
  const res = await fetchAgain(`${target.url}/v2/${path}`, { headers: options.accept ? { accept: options.accept } : {} });
  if (!res.ok) throw new Error(`${target.name} ${path}: ${res.status}`);
  const hash = createHash("sha256");
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const part of res.body!) {
    hash.update(part);
    bytes += part.length;
    if (options.keep) parts.push(Buffer.from(part));
  }
  return { digest: `sha256:${hash.digest("hex")}`, bytes, body: Buffer.concat(parts), headers: res.headers };
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
}

/** The distinct layers of a dataset's images (bench/dataset/build.sh), in the order the images list them. */
export function datasetLayers(dataset: string, tags: readonly string[]): Descriptor[] {
  const layers = new Map<string, Descriptor>();
  for (const tag of tags) {
    const m = JSON.parse(readFileSync(join(dataset, "images", tag, "manifest.json"), "utf8")) as { layers: Descriptor[] };
    for (const l of m.layers) layers.set(l.digest, l);
  }
  return [...layers.values()];
}

/** The uncompressed tar a dataset keeps for one of its layers. */
export const layerFile = (dataset: string, digest: string) => join(dataset, "layers", `${digest.replace(":", "-")}.tar`);

/** The image manifest of repo:tag (OCI or Docker schema 2). */
export async function manifest(target: Target, repo: string, tag: string, accept = MANIFEST_TYPES): Promise<{ config: Descriptor; layers: Descriptor[]; mediaType?: string }> {
  return JSON.parse((await get(target, `${repo}/manifests/${tag}`, { accept, keep: true })).body.toString());
}

/** A pull as a client does it: manifest, config and layers, each checked against its digest; the bytes received. */
export async function pull(target: Target, tag: string, repo = "ds/debian"): Promise<number> {
  let bytes = 0;
  const m = await get(target, `${repo}/manifests/${tag}`, { accept: "application/vnd.oci.image.manifest.v1+json", keep: true });
  bytes += m.bytes;
  const image = JSON.parse(m.body.toString()) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [image.config, ...image.layers]) {
    const blob = await get(target, `${repo}/blobs/${d.digest}`);
    if (blob.digest !== d.digest) throw new Error(`${target.name}: ${d.digest} came back as ${blob.digest}`);
    bytes += blob.bytes;
  }
  return bytes;
}

/** One GET of a blob by the node fetch client: time to first byte and MB/s. */
export async function timedGet(target: Target, digest: string, repo = "ds/debian"): Promise<{ ttfbMs: number; mbps: number; bytes: number }> {
  const start = performance.now();
  const res = await fetchAgain(`${target.url}/v2/${repo}/blobs/${digest}`);
  if (!res.ok) throw new Error(`${target.name} ${digest}: ${res.status}`);
  let first = 0;
  let bytes = 0;
  for await (const part of res.body!) {
    if (bytes === 0) first = performance.now();
    bytes += part.length;
  }
  return { ttfbMs: first - start, mbps: bytes / 1e6 / seconds(start), bytes };
}

/**
 * One GET of a blob by curl (a plain client, the bytes thrown away), failing unless all `size`
 * bytes came: seconds to the first byte and in all. The server checks the digest itself.
 */
export function curlGet(target: Target, digest: string, size: number, repo = "ds/debian"): { ttfb: number; total: number; mbps: number } {
  const out = execFileSync("curl", ["-sS", "--fail", "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total} %{size_download}", `${target.url}/v2/${repo}/blobs/${digest}`], { encoding: "utf8" });
  const [ttfb, total, bytes] = out.trim().split(" ").map(Number) as [number, number, number];
  if (bytes !== size) throw new Error(`${target.name} ${digest}: ${bytes} bytes of ${size}`);
  return { ttfb, total, mbps: size / 1e6 / total };
}

/** One GET by curl like `curlGet`, but not blocking this process (clients that run at once): seconds in all. */
function curlAsync(target: Target, layer: Descriptor, repo: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn("curl", ["-sS", "--fail", "-o", "/dev/null", "-w", "%{time_total} %{size_download}", `${target.url}/v2/${repo}/blobs/${layer.digest}`], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.once("error", reject);
    child.once("close", (code) => {
      const [total, bytes] = out.trim().split(" ").map(Number) as [number, number];
      if (code !== 0) reject(new Error(`${target.name} ${layer.digest}: curl exited ${code}: ${err.trim()}`));
      else if (bytes !== layer.size) reject(new Error(`${target.name} ${layer.digest}: ${bytes} bytes of ${layer.size}`));
      else resolve(total);
    });
  });
}

/** `clients` curl clients at once, each GETting every layer in turn, client i starting at layer i: wall seconds until the last is done. */
export async function clientsGetting(target: Target, layers: Descriptor[], repo: string, clients: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < layers.length; k++) await curlAsync(target, layers[(c + k) % layers.length]!, repo);
    }),
  );
  return seconds(start);
}
