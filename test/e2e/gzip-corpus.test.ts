import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, statSync, type Dirent } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { describeEncoder, type EncoderSpec } from "../../src/deflate/encoders.js";
import { GZIP_KEPT_PREFIX, GZIP_PENDING_PREFIX } from "../../src/layers/gzip/convert.js";
import { decodeGzipForm, gzipFormKey } from "../../src/layers/gzip/form.js";
import { openStore } from "../../src/store/open.js";
import { gzipWith } from "../deflate/gzipper.js";
import { CLI, REPO_ROOT, run } from "../helpers.js";
import { escape, missingTools, processesUsing, readSteps, runScenario, stepChecker, tail } from "./scenario.js";

/**
 * A corpus of gzip layers made by the real tools (issue 13, item 6), pushed to a real
 * `docker-dedup serve`, pulled back after the background conversions, and checked:
 *   - dockerd's `docker push` (Debian's docker.io 20.10, Go 1.19: Go's compress/gzip level 6) of an
 *     image from `docker import` of a rootfs tar plus a layer COPYed by the classic builder;
 *   - skopeo's default compression (pgzip, 1 MiB blocks): `skopeo copy` of an OCI layout with
 *     uncompressed layers, without --preserve-digests;
 *   - umoci 0.4 (`umoci repack`, pgzip 256 KiB blocks), pushed with skopeo --preserve-digests;
 *   - GNU `gzip -n` (no encoder of the library writes it: kept as its compressed bytes), Python's
 *     tarfile `w:gz` and gzip.compress (zlib level 9), Go programs built with the machine's
 *     toolchain (test/deflate/gzipper.ts: compress/gzip levels 1, 6, 9, pgzip, klauspost's gzip),
 *     each an OCI image assembled here and pushed with skopeo --preserve-digests.
 * Every layer must come back byte for byte (a plain GET, `skopeo copy` to dir:, `docker pull`
 * after `docker rmi`); every layer whose encoder is one of the library's families must be stored
 * as its content (a form under layers/gzip/<digest>, the compressed bytes' recipe gone) by the
 * encoder expected; the GNU gzip layer must be kept, with the reason in `stats`.
 *
 * The layers are real files of this machine (/usr/include, /usr/share/doc, /usr/bin), a few MB
 * each, plus a per-run nonce (skopeo's blob-info cache, shared by all runs on the machine, must not
 * stand in for an upload). Everything that talks over the network runs in
 * test/e2e/gzip-corpus/scenario.sh, in a loopback-only network namespace like clients.test.ts.
 *
 * Needs root and the Debian packages docker.io skopeo curl iproute2 util-linux tar gzip python3,
 * and Go (scripts/gzip-vectors/build.sh); the umoci case runs if umoci is installed (.ci/run
 * installs it).
 */

const SCENARIO = join(REPO_ROOT, "test/e2e/gzip-corpus/scenario.sh");
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
/** Bytes of real files in a layer (before the tar's own overhead), unless told otherwise. */
const LAYER_BYTES = 3_000_000;

const sha256 = (data: Uint8Array | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

interface Case {
  /** The image is corpus/<id>:1 in docker-dedup. */
  id: string;
  title: string;
  /** The encoder every layer must be found to be written by, or "kept": none of the library's. */
  expect: EncoderSpec | "kept";
}

const CASES: Case[] = [
  { id: "docker", title: "docker push (dockerd 20.10, Go 1.19)", expect: { family: "go", level: 6 } },
  { id: "skopeo", title: "skopeo copy, default compression", expect: { family: "pgzip", level: 5, blockSize: 1 << 20 } },
  { id: "umoci", title: "umoci repack", expect: { family: "pgzip", level: 5, blockSize: 256 << 10 } },
  { id: "gnu", title: "GNU gzip -n", expect: "kept" },
  { id: "python", title: "Python tarfile w:gz, gzip.compress", expect: { family: "zlib", level: 9, memLevel: 8 } },
  { id: "go1", title: "Go compress/gzip level 1", expect: { family: "go", level: 1 } },
  { id: "go6", title: "Go compress/gzip level 6", expect: { family: "go", level: 6 } },
  { id: "go9", title: "Go compress/gzip level 9", expect: { family: "go", level: 9 } },
  { id: "pgzip", title: "Go klauspost/pgzip default", expect: { family: "pgzip", level: 5, blockSize: 1 << 20 } },
  { id: "kflate", title: "Go klauspost/compress/gzip default", expect: { family: "klauspost", level: 5 } },
];

/** Regular files under `root` (up to 1 MB each), depth first in name order: the same on every run on a machine. */
function* filesUnder(root: string): Generator<{ path: string; size: number }> {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (entry.isFile()) {
      const { size } = statSync(path);
      if (size > 0 && size <= 1 << 20) yield { path, size };
    }
  }
}

/**
 * Rootfs directories of real files: each call copies the next `bytes` of files (headers, docs,
 * binaries, in those shares) under dir/rootfs/name, at their own paths, plus the run's nonce.
 */
function rootfsMaker(dir: string, nonce: string) {
  const sources = [
    { files: filesUnder("/usr/include"), share: 0.4 },
    { files: filesUnder("/usr/share/doc"), share: 0.3 },
    { files: filesUnder("/usr/bin"), share: 0.3 },
  ];
  return async (name: string, bytes = LAYER_BYTES): Promise<string> => {
    const rootfs = join(dir, "rootfs", name);
    for (const { files, share } of sources) {
      for (let taken = 0; taken < share * bytes; ) {
        const next = files.next();
        if (next.done) break;
        await mkdir(join(rootfs, dirname(next.value.path)), { recursive: true });
        await copyFile(next.value.path, join(rootfs, next.value.path));
        taken += next.value.size;
      }
    }
    await mkdir(join(rootfs, "etc"), { recursive: true });
    await writeFile(join(rootfs, "etc", "docker-dedup-corpus"), `${name} ${nonce}\n`);
    return rootfs;
  };
}

/** A tar of `rootfs` by GNU tar. */
async function tarOf(rootfs: string): Promise<Buffer> {
  const path = `${rootfs}.tar`;
  await run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", rootfs, "-cf", path, "."]);
  return readFile(path);
}

/** Python's own ways to a gzip layer: tarfile.open(w:gz) of a directory (zlib level 9, a named header) and gzip.compress of a tar. */
async function pythonLayers(rootfs: string, tar: Buffer, dir: string): Promise<[Buffer, Buffer]> {
  const script = `
import gzip, sys, tarfile
rootfs, out_tar_gz, tar, out_gz = sys.argv[1:]
with tarfile.open(out_tar_gz, "w:gz") as t:
    t.add(rootfs, arcname=".")
with open(tar, "rb") as f, open(out_gz, "wb") as g:
    g.write(gzip.compress(f.read()))
`;
  const tarPath = join(dir, "python-2.tar");
  await writeFile(tarPath, tar);
  await run("python3", ["-c", script, rootfs, join(dir, "layer.tar.gz"), tarPath, join(dir, "python-2.tar.gz")]);
  return [await readFile(join(dir, "layer.tar.gz")), await readFile(join(dir, "python-2.tar.gz"))];
}

interface Fixture {
  /** The OCI layout the skopeo pushes copy from (all but docker's and umoci's images). */
  layout: string;
  pushes: { id: string; source: string; preserveDigests: boolean }[];
  /** The manifest digest each image pushed with --preserve-digests must keep. */
  manifests: Map<string, string>;
  /** The tar each layer of the skopeo-compressed image must inflate to. */
  skopeoTars: Buffer[];
  dockerTar: string;
  dockerContext: string;
}

async function makeFixture(dir: string, withUmoci: boolean): Promise<Fixture> {
  const nonce = randomUUID();
  const rootfs = rootfsMaker(dir, nonce);
  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const put = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const refs: Descriptor[] = [];
  const manifests = new Map<string, string>();
  const image = async (id: string, layers: { mediaType: string; data: Buffer; tar: Buffer }[]) => {
    const configJson = {
      created: "2024-01-01T00:00:00Z",
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/bin/sh"], Labels: { "docker-dedup.corpus": id } },
      rootfs: { type: "layers", diff_ids: layers.map((l) => sha256(l.tar)) },
      history: layers.map(() => ({ created: "2024-01-01T00:00:00Z", created_by: `docker-dedup corpus ${id}` })),
    };
    const config = await put(OCI_CONFIG, Buffer.from(JSON.stringify(configJson)));
    const descriptors = await Promise.all(layers.map((l) => put(l.mediaType, l.data)));
    const manifest = await put(OCI_MANIFEST, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: descriptors }, null, 2)));
    refs.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": id } });
    manifests.set(id, manifest.digest);
  };
  const gz = (data: Buffer, tar: Buffer) => ({ mediaType: OCI_LAYER_GZIP, data, tar });

  // skopeo: uncompressed layers, which skopeo compresses on the way.
  const skopeoTars = [await tarOf(await rootfs("skopeo-1", 6_000_000)), await tarOf(await rootfs("skopeo-2"))];
  await image("skopeo", skopeoTars.map((tar) => ({ mediaType: OCI_LAYER, data: tar, tar })));
  // GNU gzip.
  const gnuTar = await tarOf(await rootfs("gnu"));
  await image("gnu", [gz(execFileSync("gzip", ["-n"], { input: gnuTar, maxBuffer: 1 << 30 }), gnuTar)]);
  // Python.
  const pyDir = join(dir, "python");
  await mkdir(pyDir);
  const [tarfileGz, compressed] = await pythonLayers(await rootfs("python-1"), await tarOf(await rootfs("python-2")), pyDir);
  await image("python", [gz(tarfileGz, gunzipSync(tarfileGz)), gz(compressed, gunzipSync(compressed))]);
  // Go, built with the machine's toolchain.
  for (const [id, real] of [
    ["go1", { encoder: "stdlib", level: 1 }],
    ["go6", { encoder: "stdlib", level: 6 }],
    ["go9", { encoder: "stdlib", level: 9 }],
    ["pgzip", { encoder: "pgzip", level: -1, block: 1 << 20 }],
    ["kflate", { encoder: "kflate", level: -1 }],
  ] as const) {
    const tar = await tarOf(await rootfs(id));
    await image(id, [gz(await gzipWith(real, tar), tar)]);
  }
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: refs }));

  // umoci: an empty image, unpacked, two rootfs copied in, each repacked into a layer.
  const umoci = join(dir, "umoci");
  if (withUmoci) {
    const bundle = join(dir, "umoci-bundle");
    await run("umoci", ["init", "--layout", umoci]);
    await run("umoci", ["new", "--image", `${umoci}:t`]);
    await run("umoci", ["unpack", "--image", `${umoci}:t`, bundle]);
    for (const name of ["umoci-1", "umoci-2"]) {
      await cp(await rootfs(name), join(bundle, "rootfs"), { recursive: true });
      await run("umoci", ["repack", "--refresh-bundle", "--history.created_by", `docker-dedup corpus ${name}`, "--image", `${umoci}:t`, bundle]);
    }
    const umociIndex = JSON.parse(await readFile(join(umoci, "index.json"), "utf8")) as { manifests: Descriptor[] };
    manifests.set("umoci", umociIndex.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "t")!.digest);
  }

  // docker: a rootfs tar to import, and a build context that COPYs a second rootfs onto it. The
  // first layer is long enough for Go checkpoints (re-created on several threads on a pull).
  const dockerTar = join(dir, "docker-1.tar");
  await writeFile(dockerTar, await tarOf(await rootfs("docker-1", 10_000_000)));
  const dockerContext = join(dir, "docker-context");
  await cp(await rootfs("docker-2"), join(dockerContext, "files"), { recursive: true });
  await writeFile(join(dockerContext, "Dockerfile"), "FROM corpus/docker-base:1\nCOPY files/ /\n");

  const pushes = [
    { id: "skopeo", source: `oci:${layout}:skopeo`, preserveDigests: false },
    ...(withUmoci ? [{ id: "umoci", source: `oci:${umoci}:t`, preserveDigests: true }] : []),
    ...["gnu", "python", "go1", "go6", "go9", "pgzip", "kflate"].map((id) => ({ id, source: `oci:${layout}:${id}`, preserveDigests: true })),
  ];
  return { layout, pushes, manifests, skopeoTars, dockerTar, dockerContext };
}

interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}

test("gzip corpus by the real tools: docker push, skopeo, umoci, GNU gzip, Python, Go; every layer pulls back byte-exact, the known encoders' stored as content", { timeout: 600_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root (namespaces, dockerd)");
  const missing = missingTools(["setpriv", "unshare", "dockerd", "docker", "skopeo", "curl", "ip", "tar", "gzip", "python3", "go"]);
  assert.deepEqual(missing, [], `missing tools (Debian packages docker.io skopeo curl iproute2 util-linux tar gzip python3; Go)`);
  const withUmoci = missingTools(["umoci"]).length === 0;
  const cases = CASES.filter((c) => c.id !== "umoci" || withUmoci);
  if (!withUmoci) await t.test("umoci repack (pgzip, 256 KiB blocks)", (s) => s.skip("umoci is not installed (Debian package umoci)"));

  const dir = await mkdtemp(join(tmpdir(), "docker-dedup-gzip-corpus-"));
  let stopScenario = async () => {};
  t.after(async () => {
    await stopScenario(); // if the test failed or timed out while it ran: every process is gone before the rm
    // DOCKER_DEDUP_E2E_KEEP=1 keeps the scratch dir (logs of every step under work/out) for debugging.
    if (process.env.DOCKER_DEDUP_E2E_KEEP) t.diagnostic(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  });
  let started = Date.now();
  const fx = await makeFixture(dir, withUmoci);
  t.diagnostic(`inputs made in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const work = join(dir, "work");
  await mkdir(work);
  const pushes = join(dir, "pushes.tsv");
  await writeFile(pushes, fx.pushes.map((p) => `${p.id}\t${p.source}\t${p.preserveDigests ? 1 : 0}\n`).join(""));
  // Two layers each for docker, skopeo, umoci and python; one for the others.
  const gzipLayers = cases.reduce((n, c) => n + (["docker", "skopeo", "umoci", "python"].includes(c.id) ? 2 : 1), 0);
  started = Date.now();
  const scenario = await runScenario(
    SCENARIO,
    { WORK: work, NODE: process.execPath, CLI, PUSHES: pushes, DOCKER_TAR: fx.dockerTar, DOCKER_CONTEXT: fx.dockerContext },
    480_000,
    (stop) => (stopScenario = stop),
  );
  t.diagnostic(`scenario took ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const { results, serveLog } = await readSteps(work);
  const ok = stepChecker(results, scenario, () => serveLog);
  const check = (name: string, fn: () => void | Promise<void>) => t.test(name, fn);
  const manifestOf = (id: string): Manifest => JSON.parse(ok(`inspect.${id}`).stdout) as Manifest;

  await check("docker-dedup serve starts (in the namespace)", () => void ok("serve.start"));
  for (const { id, preserveDigests } of fx.pushes) {
    await check(`skopeo copy pushes corpus/${id}:1${preserveDigests ? " (--preserve-digests)" : " (skopeo compresses the layers)"}`, () => {
      ok(`push.${id}`);
      const raw = ok(`inspect.${id}`).stdout;
      const manifest = JSON.parse(raw) as Manifest;
      assert.ok(manifest.layers.every((l) => l.mediaType === OCI_LAYER_GZIP), `gzip layers: ${manifest.layers.map((l) => l.mediaType).join(", ")}`);
      if (id === "skopeo") assert.equal(manifest.layers.length, 2);
      else assert.equal(sha256(raw), fx.manifests.get(id), "manifest digest after the round trip");
    });
  }
  await check("dockerd imports a rootfs, builds a second layer onto it and pushes the image", () => {
    for (const id of ["docker.start", "docker.import", "docker.build"]) ok(id);
    const pushed = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(ok("push.docker").stdout);
    assert.ok(pushed, `docker push printed the manifest digest: ${ok("push.docker").stdout}`);
    const raw = ok("inspect.docker").stdout;
    assert.equal(sha256(raw), pushed[1], "manifest digest after the round trip");
    const manifest = JSON.parse(raw) as Manifest;
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      ["application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"],
    );
  });
  await check(`the background conversions settle: all ${gzipLayers} gzip layers looked at (stored as content or kept), none pending`, () => {
    const { gzip } = JSON.parse(ok("convert.wait").stdout) as { gzip: { asContent: number; kept: unknown[]; pending: number } };
    assert.equal(gzip.pending, 0);
    assert.equal(gzip.asContent + gzip.kept.length, gzipLayers, `stats --json: ${JSON.stringify(gzip)}`);
  });

  // --- pulls ---
  for (const { id } of cases) {
    await check(`corpus/${id}:1: every layer pulls back byte-exact (a plain GET, skopeo copy to dir:)`, async () => {
      const manifest = manifestOf(id);
      assert.deepEqual(ok(`get.${id}`).stdout.trim().split("\n"), manifest.layers.map((l) => l.digest));
      ok(`skopeo.pull.${id}`);
      for (const layer of manifest.layers) {
        for (const path of [join(work, "blobs", layer.digest.slice(7)), join(work, "pulled", id, layer.digest.slice(7))]) {
          const bytes = await readFile(path);
          assert.equal(bytes.length, layer.size, `size of ${path}`);
          assert.equal(sha256(bytes), layer.digest, `digest of ${path}`);
        }
      }
      if (id === "skopeo") {
        // What skopeo compressed is our tars, untouched.
        const layers = await Promise.all(manifest.layers.map((l) => readFile(join(work, "blobs", l.digest.slice(7)))));
        assert.deepEqual(layers.map((l) => sha256(gunzipSync(l))), fx.skopeoTars.map((tar) => sha256(tar)));
      }
    });
  }
  await check("docker rmi + image prune leave dockerd holding no image", () => {
    ok("docker.rmi");
    ok("docker.prune");
    assert.equal(ok("docker.images").stdout.trim(), "");
  });
  interface DockerImage {
    Id: string;
    RepoDigests: string[];
    RootFS: { Layers: string[] };
  }
  const port = (await readFile(join(work, "port"), "utf8").catch(() => "")).trim();
  for (const { id } of cases) {
    await check(`docker pull corpus/${id}:1 fetches every layer from docker-dedup and verifies it`, async () => {
      const manifest = manifestOf(id);
      const { requests } = ok(`docker.pull.${id}`);
      for (const layer of manifest.layers) assert.match(requests, new RegExp(`GET /v2/corpus/${id}/blobs/${layer.digest} 200`), `dockerd fetched ${layer.digest}`);
      const [inspected] = JSON.parse(ok(`docker.inspect.${id}`).stdout) as DockerImage[];
      const config = JSON.parse(await readFile(join(work, "pulled", id, manifest.config.digest.slice(7)), "utf8")) as { rootfs: { diff_ids: string[] } };
      assert.deepEqual(inspected?.RootFS.Layers, config.rootfs.diff_ids, "layer DiffIDs");
      assert.equal(inspected?.Id, manifest.config.digest, "image ID = config digest");
      assert.ok(inspected?.RepoDigests.includes(`127.0.0.1:${port}/corpus/${id}@${sha256(ok(`inspect.${id}`).stdout)}`), `RepoDigests ${JSON.stringify(inspected?.RepoDigests)}`);
    });
  }

  // --- the store ---
  await check("docker-dedup stops cleanly and its store verifies", () => {
    ok("serve.stop");
    assert.match(ok("verify").stdout, /all intact/);
  });
  /** Per case, for the record: its bytes as clients pull them (compressed) and as content, and how much is stored as content. */
  const figures: { c: Case; layers: number; compressed: number; content: number; asContent: number; encoders: Set<string> }[] = [];
  {
    const store = await openStore(join(work, "store"));
    try {
      for (const c of cases) {
        await check(`corpus/${c.id}:1 (${c.title}): ${c.expect === "kept" ? "kept as its compressed bytes, with the reason" : `every layer stored as its content, by ${describeEncoder(c.expect)}`}`, async () => {
          const layers = manifestOf(c.id).layers;
          const figure = { c, layers: layers.length, compressed: 0, content: 0, asContent: 0, encoders: new Set<string>() };
          figures.push(figure);
          const forms = await Promise.all(layers.map(async (layer) => {
            const bytes = await store.getMeta(gzipFormKey(layer.digest));
            return bytes === undefined ? undefined : decodeGzipForm(layer.digest, bytes);
          }));
          for (const [i, layer] of layers.entries()) {
            const form = forms[i];
            figure.compressed += layer.size;
            figure.content += form?.contentSize ?? gunzipSync(await readFile(join(work, "blobs", layer.digest.slice(7)))).length;
            if (form !== undefined) figure.asContent += layer.size;
            for (const member of form?.members ?? []) figure.encoders.add(describeEncoder(member.encoder));
            if (form === undefined) figure.encoders.add((await store.getMeta(GZIP_KEPT_PREFIX + layer.digest)) === undefined ? "compressed bytes, never looked at" : "kept: no encoder writes it");
          }
          for (const [i, layer] of layers.entries()) {
            const form = forms[i];
            const kept = (await store.getMeta(GZIP_KEPT_PREFIX + layer.digest))?.toString();
            assert.equal(await store.getMeta(GZIP_PENDING_PREFIX + layer.digest), undefined, `${layer.digest} still pending`);
            if (c.expect === "kept") {
              assert.equal(form, undefined, `${layer.digest} has a form`);
              assert.ok((await store.getRecipe(layer.digest)) !== undefined, "still stored as its compressed bytes");
              assert.match(kept ?? "", /no encoder of the library writes it/);
              assert.match(serveLog, new RegExp(`gzip ${layer.digest}: kept as its compressed bytes: `));
            } else {
              assert.ok(form !== undefined, `${layer.digest} (${layer.size} bytes) is not stored as its content: ${kept === undefined ? "never looked at (no form, no kept reason, no pending mark)" : `kept, ${kept}`}`);
              assert.equal(await store.getRecipe(layer.digest), undefined, "the compressed bytes' recipe is gone");
              assert.ok((await store.getRecipe(form.content)) !== undefined, "the content is a blob of its own");
              assert.deepEqual(
                form.members.map((m) => m.encoder),
                form.members.map(() => c.expect),
                `encoders found: ${form.members.map((m) => describeEncoder(m.encoder)).join("; ")}`,
              );
              assert.match(serveLog, new RegExp(`gzip ${layer.digest}: stored as its content ${form.content} `));
            }
          }
        });
      }
    } finally {
      await store.close();
    }
  }
  await check("stats: every known layer as its content, the GNU gzip layer kept with its reason, none pending", () => {
    const layersOf = (kept: boolean) => cases.filter((c) => (c.expect === "kept") === kept).flatMap((c) => manifestOf(c.id).layers.map((l) => l.digest));
    const known = layersOf(false);
    const gnu = layersOf(true);
    const stats = JSON.parse(ok("stats.json").stdout) as { gzip: { asContent: number; kept: { digest: string; reason: string }[]; pending: number } };
    assert.deepEqual(
      { asContent: stats.gzip.asContent, kept: stats.gzip.kept.map((k) => k.digest).sort(), pending: stats.gzip.pending },
      { asContent: known.length, kept: [...gnu].sort(), pending: 0 },
    );
    const text = ok("stats").stdout;
    assert.match(text, new RegExp(`gzip layers\\s+${known.length} stored as their content, ${gnu.length} as their compressed bytes, 0 not looked at yet`));
    for (const digest of gnu) assert.match(text, new RegExp(`kept ${escape(digest)}: member 1 of 1 \\(\\d+ bytes\\): no encoder of the library writes it`));
  });
  await check("docker-dedup answered no request with a 5xx and logged no server fault", () => {
    const bad = serveLog.split("\n").filter((line) => / 5\d\d \d+ms$/.test(line) || /: (Error|TypeError|RangeError)/.test(line) || /conversion failed/.test(line));
    assert.deepEqual(bad, []);
  });
  await check("the scenario script itself exited 0 and every process it started is gone", async () => {
    assert.equal(scenario.code, 0, tail(scenario.stderr));
    assert.deepEqual(await processesUsing(dir), [], "processes still running with the scratch dir on their command line");
  });
  // The record the lead quotes: each case's bytes compressed (as pulled) against its content, and the share stored as content.
  const pct = (a: number, b: number) => `${b === 0 ? "-" : ((100 * a) / b).toFixed(0)}%`;
  const row = (id: string, title: string, layers: number, compressed: number, content: number, asContent: number, encoders: string) =>
    `${id.padEnd(7)} ${title.padEnd(38)} ${String(layers).padStart(6)} ${String(compressed).padStart(10)} ${String(content).padStart(10)} ${pct(compressed, content).padStart(6)} ${pct(asContent, compressed).padStart(10)}  ${encoders}`;
  t.diagnostic(`${"case".padEnd(7)} ${"made by".padEnd(38)} layers compressed    content  comp.  as content  encoder found`);
  for (const f of figures) t.diagnostic(row(f.c.id, f.c.title, f.layers, f.compressed, f.content, f.asContent, [...f.encoders].join("; ")));
  const sum = (key: "layers" | "compressed" | "content" | "asContent") => figures.reduce((n, f) => n + f[key], 0);
  t.diagnostic(row("all", "", sum("layers"), sum("compressed"), sum("content"), sum("asContent"), ""));
  t.diagnostic(`steps: ${[...results].map(([id, r]) => `${id} ${r.code === 0 ? "" : `exit ${r.code} `}${r.ms}ms`).join(", ")}`);
});
