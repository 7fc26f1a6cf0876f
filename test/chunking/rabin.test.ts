import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chunkStream } from "../../src/chunking/stream.js";
import { RabinFinder } from "../../src/chunking/rabin.js";
import type { ChunkerSpec } from "../../src/chunking/types.js";

/*
 * Our Rabin chunker against the real PyRabin 0.6 (the C extension docker_dedup chunked with),
 * installed by scripts/pyrabin/install.sh. The chunk lengths must be identical, whatever the
 * pieces the stream arrives in.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** The repository root: the nearest ancestor holding package.json (works from test/ and dist/test/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find the repository root above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

const ROOT = repoRoot();
const INSTALL_SCRIPT = join(ROOT, "scripts", "pyrabin", "install.sh");
const CUTS_SCRIPT = join(ROOT, "scripts", "pyrabin", "cuts.py");
/** Same resolution as scripts/pyrabin/install.sh. */
const TOOLS_DIR = process.env["DOCKER_DEDUP_TOOLS"] || "/var/tmp/docker-dedup-tools";
const VENV_PYTHON = join(TOOLS_DIR, "pyrabin", "bin", "python");

function requirePyRabin(): void {
  let ok = existsSync(VENV_PYTHON);
  if (ok) {
    try {
      execFileSync(VENV_PYTHON, ["-c", "import rabin"], { stdio: "ignore" });
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    assert.fail(
      `the real PyRabin is not installed at ${join(TOOLS_DIR, "pyrabin")} (python ${VENV_PYTHON} cannot import rabin): ` +
        `run \`bash scripts/pyrabin/install.sh\` (needs gcc and libssl-dev; DOCKER_DEDUP_TOOLS moves the venv)`,
    );
  }
}

/** Deterministic 32-bit generator (mulberry32). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function randomBytes(length: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.allocUnsafe(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) out.writeUInt32LE(next(), i);
  for (; i < length; i++) out[i] = next() & 0xff;
  return out;
}

/** Mostly bytes >= 0x80 (negative as C `char`), with some ASCII mixed in. */
function highBytes(length: number, seed: number): Buffer {
  const next = prng(seed);
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const r = next();
    out[i] = (r & 0xff) < 230 ? 0x80 | (r >>> 8) : (r >>> 8) & 0x7f;
  }
  return out;
}

/** A tar of some /usr/share directories (text, binary, small and large files), cut to at most `limit` bytes. */
function usrShareTar(path: string, limit: number): void {
  const tar = (names: string[]): string[] => {
    const dirs = names.filter((d) => existsSync(join("/usr/share", d))).map((d) => join("usr/share", d));
    if (dirs.length > 0) {
      execFileSync("tar", ["-cf", path, "--ignore-failed-read", "--sort=name", "-C", "/", ...dirs], {
        stdio: ["ignore", "ignore", "ignore"],
      });
    }
    return dirs;
  };
  let dirs = tar(["common-licenses", "zoneinfo", "perl5", "mime", "i18n"]);
  // A slim image may lack most of those: then also the (larger) docs.
  if (dirs.length === 0 || statSync(path).size < 4 * MiB) dirs = tar(["common-licenses", "zoneinfo", "perl5", "mime", "i18n", "doc", "man"]);
  assert.ok(dirs.length > 0, "no /usr/share directory to tar");
  if (statSync(path).size > limit) truncateSync(path, limit);
  assert.ok(statSync(path).size >= 256 * KiB, `tar of ${dirs.join(", ")} is too small to be a meaningful test`);
}

interface DataFile {
  name: string;
  path: string;
}

let workDir: string | undefined;
let dataFiles: DataFile[] | undefined;

function data(): DataFile[] {
  if (dataFiles !== undefined) return dataFiles;
  workDir = mkdtempSync(join(tmpdir(), "rabin-test-"));
  process.on("exit", () => rmSync(workDir!, { recursive: true, force: true }));
  const files: Array<[string, Buffer | ((path: string) => void)]> = [
    // Longer than PyRabin's 1 MiB read buffer, so its block-to-block state carrying is exercised.
    ["random-6MiB", randomBytes(6 * MiB + 12345, 1)],
    ["usr-share-tar", (path) => usrShareTar(path, 12 * MiB)],
    // Zeros from the start: the hash stays 0, so only max cuts, and with max 64 KiB the 16th one
    // falls on the last byte of PyRabin's first 1 MiB read (its "current_poly_finished" path).
    [
      "zeros-then-mixed",
      Buffer.concat([
        Buffer.alloc(2 * MiB + 100),
        randomBytes(300 * KiB, 2),
        Buffer.alloc(200 * KiB),
        randomBytes(5000, 3),
        Buffer.alloc(70 * KiB, 0xff),
        highBytes(100 * KiB, 4),
        Buffer.alloc(65 * KiB, 0x80),
        randomBytes(40 * KiB, 5),
        Buffer.alloc(130 * KiB),
      ]),
    ],
    ["high-bytes", highBytes(3 * MiB, 6)],
    [
      "text",
      Buffer.from(
        Array.from({ length: 40000 }, (_, i) => `line ${i}: ${(i * 7919) % 1000} the quick brown fox ${i % 97}\n`).join(""),
      ),
    ],
    ["empty", Buffer.alloc(0)],
    ["one-byte", Buffer.from([0xc3])],
    ["below-min", randomBytes(1000, 7)],
    ["exactly-max", randomBytes(64 * KiB, 8)],
    ["zeros-max-plus-one", Buffer.alloc(64 * KiB + 1)],
  ];
  dataFiles = files.map(([name, content]) => {
    const path = join(workDir!, name);
    if (typeof content === "function") content(path);
    else writeFileSync(path, content);
    return { name, path };
  });
  return dataFiles;
}

/** The chunk lengths of the real PyRabin (`sizes` undefined: the library defaults). */
function pyrabinLengths(path: string, sizes: [number, number, number] | undefined): number[] {
  const args = [CUTS_SCRIPT, path, ...(sizes ?? []).map(String)];
  const out = execFileSync(VENV_PYTHON, args, { encoding: "utf8", maxBuffer: 256 * MiB });
  return out.split("\n").filter((l) => l !== "").map(Number);
}

/** Feeds `bytes` in pieces of deterministic pseudo-random sizes, from 1 byte to 1 MiB. */
async function* pieces(bytes: Uint8Array, seed: number): AsyncGenerator<Uint8Array> {
  const next = prng(seed);
  let at = 0;
  while (at < bytes.length) {
    const r = next();
    const kind = r % 8;
    const size =
      kind === 0 ? 1 + ((r >>> 8) % 16) : kind <= 5 ? 1 + ((r >>> 8) % (64 * KiB)) : kind === 6 ? 1 + ((r >>> 8) % MiB) : 4096;
    yield bytes.subarray(at, Math.min(bytes.length, at + size));
    at += size;
  }
}

async function ourLengths(bytes: Uint8Array, spec: ChunkerSpec, seed: number): Promise<number[]> {
  const lengths: number[] = [];
  for await (const chunk of chunkStream(pieces(bytes, seed), spec)) lengths.push(chunk.length);
  return lengths;
}

function assertSameCuts(name: string, ours: number[], theirs: number[]): void {
  const n = Math.min(ours.length, theirs.length);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    if (ours[i] !== theirs[i]) {
      assert.fail(`${name}: chunk ${i} at offset ${offset}: ours is ${ours[i]} bytes, PyRabin's ${theirs[i]}`);
    }
    offset += ours[i]!;
  }
  assert.equal(ours.length, theirs.length, `${name}: ${ours.length} chunks, PyRabin ${theirs.length} (same up to ${n})`);
}

interface ParameterSet {
  label: string;
  /** For cuts.py; undefined: PyRabin's defaults. */
  sizes: [number, number, number] | undefined;
  spec: ChunkerSpec;
  /** Only these data files (tiny chunks make the big ones slow). */
  only?: string[];
}

const SMALL_FILES = ["zeros-then-mixed", "text", "one-byte", "below-min", "exactly-max", "zeros-max-plus-one"];

const PARAMETER_SETS: ParameterSet[] = [
  {
    label: "docker_dedup's 4096/8192/65536",
    sizes: [4096, 8192, 65536],
    spec: { algorithm: "rabin", minSize: 4096, avgSize: 8192, maxSize: 65536, tarAware: false },
  },
  {
    label: "PyRabin's defaults (2048/8192/65536, setters not called)",
    sizes: undefined,
    spec: { algorithm: "rabin", minSize: 2048, avgSize: 8192, maxSize: 65536, tarAware: false },
  },
  {
    // An avg that is not a power of two (a real modulo), and a small max that is often reached.
    label: "1000/3001/7777",
    sizes: [1000, 3001, 7777],
    spec: { algorithm: "rabin", minSize: 1000, avgSize: 3001, maxSize: 7777, tarAware: false },
  },
  {
    // min < 48: the only case where the window carried over a cut shows (and the short skips).
    label: "16/64/200",
    sizes: [16, 64, 200],
    spec: { algorithm: "rabin", minSize: 16, avgSize: 64, maxSize: 200, tarAware: false },
    only: SMALL_FILES,
  },
  {
    label: "40/45/300",
    sizes: [40, 45, 300],
    spec: { algorithm: "rabin", minSize: 40, avgSize: 45, maxSize: 300, tarAware: false },
    only: SMALL_FILES,
  },
];

test("the real PyRabin is installed (scripts/pyrabin/install.sh)", () => {
  requirePyRabin();
  const version = execFileSync(VENV_PYTHON, ["-c", "import importlib.metadata as m; print(m.version('PyRabin'))"], {
    encoding: "utf8",
  }).trim();
  assert.equal(version, "0.6");
  assert.ok(existsSync(INSTALL_SCRIPT));
});

for (const [index, { label, sizes, spec, only }] of PARAMETER_SETS.entries()) {
  test(`rabin cuts are PyRabin's, ${label}`, async (t) => {
    requirePyRabin();
    let compared = 0;
    for (const file of data()) {
      if (only !== undefined && !only.includes(file.name)) continue;
      const bytes = readFileSync(file.path);
      const theirs = pyrabinLengths(file.path, sizes);
      assert.equal(
        theirs.reduce((a, b) => a + b, 0),
        bytes.length,
        `${file.name}: PyRabin's chunks do not cover the file`,
      );
      for (const seed of [index * 100 + 1, index * 100 + 2]) {
        assertSameCuts(`${file.name} (pieces seed ${seed})`, await ourLengths(bytes, spec, seed), theirs);
      }
      // Also as a single piece.
      const single: number[] = [];
      for await (const chunk of chunkStream((async function* () { yield bytes; })(), spec)) single.push(chunk.length);
      assertSameCuts(`${file.name} (one piece)`, single, theirs);
      compared += theirs.length;
      t.diagnostic(`${file.name}: ${bytes.length} bytes, ${theirs.length} chunks identical`);
    }
    assert.ok(compared > 1000, `only ${compared} chunks compared`);
  });
}

/**
 * 48 bytes whose window hash is exactly `value` (mod 2^64): 6 pseudo-random bytes (often >= 0x80),
 * then 42 balanced-ternary digits (bytes 0x00, 0x01, 0xff) making up the rest.
 */
function windowWithHash(value: bigint, seed: number): Buffer {
  const M = 1n << 64n;
  const signed = (b: number): bigint => BigInt(b < 128 ? b : b - 256);
  const bytes = randomBytes(48, seed);
  let head = 0n;
  for (let k = 0; k < 6; k++) head += signed(bytes[k]!) * 3n ** BigInt(47 - k);
  let rest = (((value - head) % M) + M) % M;
  for (let k = 47; k >= 6; k--) {
    const r = rest % 3n;
    const digit = r === 2n ? -1 : Number(r);
    rest = (rest - BigInt(digit)) / 3n;
    bytes[k] = digit & 0xff;
  }
  assert.equal(rest, 0n);
  let check = 0n;
  for (let k = 0; k < 48; k++) check = (check * 3n + signed(bytes[k]!)) % M;
  assert.equal((check + M) % M, value % M);
  return bytes;
}

/** The hashes after each of the first 47 bytes of `window`, following zeros. */
function partialHashes(window: Uint8Array): bigint[] {
  const M = 1n << 64n;
  const hashes: bigint[] = [];
  let h = 0n;
  for (let k = 0; k < 47; k++) {
    const b = window[k]!;
    h = (((h * 3n + BigInt(b < 128 ? b : b - 256)) % M) + M) % M;
    hashes.push(h);
  }
  return hashes;
}

test("rabin's hash % avg matches PyRabin's for any avg (crafted windows, full 64-bit hashes)", (t) => {
  requirePyRabin();
  const dir = mkdtempSync(join(tmpdir(), "rabin-mod-"));
  try {
    const max = 0xffffffff; // never reached: only content cuts
    const prefix = 5000; // zeros: hash 0, no cut before the crafted window
    const avgs = [8192, 3001, 65537, 2 ** 26, 2 ** 26 + 1, 2 ** 26 + 3, 2 ** 30 - 35, 2 ** 31, 2 ** 31 + 11, 2 ** 32 - 5];
    for (const [n, avg] of avgs.entries()) {
      const min = Math.min(4096, avg); // PyRabin rejects avg < min
      for (const residue of [3n, 4n]) {
        const a = BigInt(avg);
        // Near the largest multiple of avg that leaves room for the residue (so the hash's high
        // bits count), one whose partial windows (after the zeros) do not already cut.
        let window: Buffer | undefined;
        for (let q = ((1n << 64n) - 1n - residue) / a; window === undefined; q--) {
          const candidate = windowWithHash(q * a + residue, 100 + n);
          if (partialHashes(candidate).every((h) => h % a !== 3n)) window = candidate;
        }
        const bytes = Buffer.concat([Buffer.alloc(prefix), window, randomBytes(30000, 200 + n)]);
        const path = join(dir, `avg-${avg}-${residue}`);
        writeFileSync(path, bytes);
        const theirs = pyrabinLengths(path, [min, avg, max]);
        const finder = new RabinFinder(min, avg, max);
        const ours: number[] = [];
        let start = 0;
        for (let at = 0; at < bytes.length; ) {
          // Odd piece sizes, so the window head / body split is crossed at many points.
          const to = Math.min(bytes.length, at + 977);
          const cut = finder.find(bytes, at, to);
          if (cut >= 0) {
            ours.push(cut - start);
            start = at = cut;
          } else {
            at = to;
          }
        }
        if (start < bytes.length) ours.push(bytes.length - start);
        assertSameCuts(`avg ${avg}, hash = ${residue} mod avg`, ours, theirs);
        const cutAtWindow = theirs[0] === prefix + 48;
        assert.equal(cutAtWindow, residue === 3n, `avg ${avg}: PyRabin's first cut is at ${theirs[0]}`);
        t.diagnostic(`avg ${avg}, residue ${residue}: ${theirs.length} chunks identical`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rabin cuts at max and rejects sizes PyRabin cannot take", () => {
  // All zeros hash to 0, so only max cuts: 65536 each, the last one partial.
  const finder = new RabinFinder(4096, 8192, 65536);
  const zeros = new Uint8Array(3 * 65536 + 5);
  const cuts: number[] = [];
  for (let at = 0; ; ) {
    const cut = finder.find(zeros, at, zeros.length);
    if (cut < 0) break;
    cuts.push(cut);
    at = cut;
  }
  assert.deepEqual(cuts, [65536, 131072, 196608]);
  assert.throws(() => new RabinFinder(0, 8192, 65536), RangeError);
  assert.throws(() => new RabinFinder(4096, 8192, 2 ** 32), RangeError);
  assert.throws(() => new RabinFinder(8192, 4096, 65536), RangeError);
  assert.throws(() => new RabinFinder(4096, 8192.5, 65536), RangeError);
});
