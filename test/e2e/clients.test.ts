import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { CLI, REPO_ROOT, run } from "../helpers.js";
import { escape, missingTools, processesUsing, readSteps, runScenario, stepChecker, tail } from "./scenario.js";

/**
 * Real clients against `docker-dedup serve`: skopeo pushes (uncompressed with --preserve-digests,
 * gzip, a multi-arch index), then dockerd (direct, through --registry-mirror, multi-arch, run),
 * containerd's ctr (direct, through a hosts.toml mirror with ?ns=docker.io, multi-arch) and podman
 * (direct, through a registries.conf mirror) pull, and `docker-dedup verify` checks the store.
 * Then a second docker-dedup runs in mirror mode (`--upstream docker.io=http://...`) in front of
 * Debian's docker-registry: dockerd (--registry-mirror) and ctr (hosts.toml) pull Docker Hub names
 * through it, and pull them again from its store after the upstream is stopped.
 *
 * The image is busybox-static from Debian, so it runs. The .deb is fetched once with
 * `apt-get download` (outside any namespace) and cached under $DOCKER_DEDUP_TOOLS
 * (default /var/tmp/docker-dedup-tools). Everything that talks over the network runs in
 * test/e2e/clients/scenario.sh, inside new network, PID and mount namespaces: only `lo` exists,
 * so dockerd's fallback from a failing mirror to the real Docker Hub cannot leave the machine,
 * and no daemon can outlive the namespace. This test builds the OCI layout by hand first and
 * checks what the clients report after.
 *
 * Needs root and the Debian packages docker.io containerd podman skopeo docker-registry tar curl iproute2
 * util-linux dpkg (and apt for the one download).
 */

const TOOLS = process.env.DOCKER_DEDUP_TOOLS ?? "/var/tmp/docker-dedup-tools";
const SCENARIO = join(REPO_ROOT, "test/e2e/clients/scenario.sh");

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

const sha256 = (data: Uint8Array | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string };
  annotations?: Record<string, string>;
}

interface Image {
  manifest: Descriptor;
  config: Descriptor;
  /** The layer blob as pushed (uncompressed or gzip) and the DiffID of its tar. */
  layer: Descriptor;
  diffId: string;
}

interface Fixture {
  layout: string;
  nonce: string;
  tar: Image;
  gz: Image;
  mirror: Image;
  /** Pushed to the upstream of the pull-through mirror only, as library/bbpt:latest. */
  pt: Image;
  multi: { index: Descriptor; amd64: Image; arm64: Image };
}

/** busybox-static's .deb from the Debian archive the machine uses, cached across runs. */
async function busyboxDeb(): Promise<string> {
  const dir = join(TOOLS, "debs");
  await mkdir(dir, { recursive: true });
  const find = async () => (await readdir(dir)).find((f) => /^busybox-static_.*\.deb$/.test(f));
  let deb = await find();
  if (!deb) {
    try {
      await run("apt-get", ["download", "-q", "busybox-static"], { cwd: dir });
    } catch (error) {
      throw new Error(`cannot fetch busybox-static with apt-get download (needs the Debian archive): ${(error as Error).message}`);
    }
    deb = await find();
  }
  assert.ok(deb, `no busybox-static .deb in ${dir}`);
  return join(dir, deb);
}

/**
 * An OCI image layout written by hand, refs: `tar` (uncompressed layer), `gz` (the same tar,
 * gzipped), `mirror` and `pt` (each its own uncompressed layer) and `multi` (an image index: amd64 and arm64
 * manifests sharing one uncompressed layer, with different configs). Every run makes new content
 * (a nonce in /etc/docker-dedup-e2e): skopeo's and podman's blob-info cache, shared by all runs
 * on the machine, must not stand in for uploads.
 */
async function makeFixture(dir: string): Promise<Fixture> {
  const rootfs = join(dir, "rootfs");
  await mkdir(rootfs, { recursive: true });
  await run("dpkg-deb", ["-x", await busyboxDeb(), rootfs]);
  await symlink("busybox", join(rootfs, "bin", "sh"));
  await mkdir(join(rootfs, "etc"), { recursive: true });

  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const put = async (mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Promise<Descriptor> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { mediaType, digest, size: data.length, ...extra };
  };
  const nonce = randomUUID();
  const makeTar = async (variant: string) => {
    await writeFile(join(rootfs, "etc", "docker-dedup-e2e"), `${variant} ${nonce}\n`);
    const path = join(dir, `${variant}.tar`);
    await run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", rootfs, "-cf", path, "."]);
    return readFile(path);
  };
  const makeImage = async (variant: string, layerBytes: Buffer, layerType: string, diffId: string, architecture = "amd64"): Promise<Image> => {
    const layer = await put(layerType, layerBytes);
    const configJson = {
      created: "2024-01-01T00:00:00Z",
      architecture,
      os: "linux",
      config: { Cmd: ["/bin/sh"], Labels: { "docker-dedup.e2e": variant } },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: "2024-01-01T00:00:00Z", created_by: `docker-dedup e2e ${variant}` }],
    };
    const config = await put(OCI_CONFIG, Buffer.from(JSON.stringify(configJson)));
    const manifestJson = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] };
    const manifest = await put(OCI_MANIFEST, Buffer.from(JSON.stringify(manifestJson, null, 2)), { platform: { architecture, os: "linux" } });
    return { manifest, config, layer, diffId };
  };

  const tarLayer = await makeTar("tar");
  const tar = await makeImage("tar", tarLayer, OCI_LAYER, sha256(tarLayer));
  const gz = await makeImage("gz", gzipSync(tarLayer), OCI_LAYER_GZIP, sha256(tarLayer));
  const mirrorLayer = await makeTar("mirror");
  const mirror = await makeImage("mirror", mirrorLayer, OCI_LAYER, sha256(mirrorLayer));
  const ptLayer = await makeTar("pt");
  const pt = await makeImage("pt", ptLayer, OCI_LAYER, sha256(ptLayer));
  const multiLayer = await makeTar("multi");
  const amd64 = await makeImage("multi-amd64", multiLayer, OCI_LAYER, sha256(multiLayer), "amd64");
  const arm64 = await makeImage("multi-arm64", multiLayer, OCI_LAYER, sha256(multiLayer), "arm64");
  const index = await put(OCI_INDEX, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [amd64.manifest, arm64.manifest] }, null, 2)));

  const ref = (d: Descriptor, name: string) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { "org.opencontainers.image.ref.name": name } });
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [ref(tar.manifest, "tar"), ref(gz.manifest, "gz"), ref(mirror.manifest, "mirror"), ref(pt.manifest, "pt"), ref(index, "multi")] }),
  );
  return { layout, nonce, tar, gz, mirror, pt, multi: { index, amd64, arm64 } };
}

test("real clients: skopeo pushes; dockerd, containerd/ctr and podman pull (direct, as a mirror, multi-arch, pull-through); the stores verify", { timeout: 300_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root (namespaces, dockerd, containerd)");
  const missing = missingTools(["setpriv", "unshare", "dockerd", "docker", "containerd", "ctr", "podman", "skopeo", "docker-registry", "curl", "ip", "dpkg-deb"]);
  assert.deepEqual(missing, [], `missing tools (Debian packages docker.io containerd podman skopeo docker-registry curl iproute2 util-linux)`);

  const dir = await mkdtemp(join(tmpdir(), "docker-dedup-clients-"));
  let stopScenario = async () => {};
  t.after(async () => {
    await stopScenario(); // if the test failed or timed out while it ran: every process is gone before the rm
    // DOCKER_DEDUP_E2E_KEEP=1 keeps the scratch dir (logs of every step under work/out) for debugging.
    if (process.env.DOCKER_DEDUP_E2E_KEEP) t.diagnostic(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  });
  const started = Date.now();
  const fx = await makeFixture(dir);
  const work = join(dir, "work");
  await mkdir(work);
  const scenario = await runScenario(SCENARIO, { WORK: work, LAYOUT: fx.layout, NODE: process.execPath, CLI }, 240_000, (stop) => (stopScenario = stop));
  t.diagnostic(`scenario took ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const { results, serveLog, mirrorLog } = await readSteps(work);
  const port = (await readFile(join(work, "port"), "utf8").catch(() => "")).trim();
  const reg = `127.0.0.1:${port}`;

  /** The step's result after asserting it ran and exited 0; the message carries the client's stderr. */
  const ok = stepChecker(results, scenario, (id) => (id.startsWith("pt.") ? mirrorLog : serveLog));
  const json = <T>(id: string): T => JSON.parse(ok(id).stdout) as T;
  const check = (name: string, fn: () => void | Promise<void>) => t.test(name, fn);

  await check("docker-dedup serve starts (in the namespace)", () => void ok("serve.start"));

  // --- skopeo ---
  await check("skopeo push of the uncompressed OCI image (--preserve-digests), stored byte-exact", () => {
    ok("push.tar");
    const raw = ok("inspect.test_bb_tar").stdout;
    assert.equal(sha256(raw), fx.tar.manifest.digest, "manifest digest after the round trip");
    assert.equal((JSON.parse(raw) as { layers: Descriptor[] }).layers[0]?.mediaType, OCI_LAYER);
  });
  await check("skopeo push of the gzip image", () => {
    ok("push.gz");
    const manifest = json<{ layers: Descriptor[] }>("inspect.test_bb_gz");
    assert.equal(manifest.layers[0]?.digest, fx.gz.layer.digest, "skopeo pushed our gzip blob as-is");
    assert.equal(manifest.layers[0]?.mediaType, OCI_LAYER_GZIP);
  });
  await check("skopeo push under a Docker Hub-style name (library/bbmirror:latest)", () => {
    ok("push.mirror");
    assert.equal(sha256(ok("inspect.library_bbmirror_latest").stdout), fx.mirror.manifest.digest);
  });
  await check("skopeo copy --all of a multi-arch OCI index (amd64 + arm64)", () => {
    ok("push.multi");
    const raw = ok("inspect.test_bb_multi").stdout;
    assert.equal(sha256(raw), fx.multi.index.digest, "index digest after the round trip");
    const index = JSON.parse(raw) as { mediaType: string; manifests: Descriptor[] };
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual(index.manifests.map((m) => m.platform?.architecture), ["amd64", "arm64"]);
  });

  // --- dockerd ---
  interface DockerImage {
    Id: string;
    RepoDigests: string[];
    Architecture: string;
    RootFS: { Layers: string[] };
  }
  const dockerImage = (id: string, image: Image, repoDigest: string) => {
    const [inspected] = json<DockerImage[]>(id);
    assert.ok(inspected, "docker image inspect returned the image");
    assert.deepEqual(inspected.RootFS.Layers, [image.diffId], "layer DiffIDs");
    assert.equal(inspected.Id, image.config.digest, "image ID = config digest");
    assert.ok(inspected.RepoDigests.includes(repoDigest), `RepoDigests ${JSON.stringify(inspected.RepoDigests)} include ${repoDigest}`);
    return inspected;
  };
  await check("dockerd starts (vfs, no bridge/iptables, --registry-mirror and --insecure-registry docker-dedup)", () => void ok("docker.start"));
  await check("docker pull bbmirror:latest is served by docker-dedup as the registry mirror", () => {
    const { requests } = ok("docker.pull.mirror");
    dockerImage("docker.inspect.mirror", fx.mirror, `bbmirror@${fx.mirror.manifest.digest}`);
    assert.match(requests, /(GET|HEAD) \/v2\/library\/bbmirror\/manifests\/latest 200/, "dockerd asked docker-dedup for the manifest");
    assert.match(requests, new RegExp(`GET /v2/library/bbmirror/blobs/${fx.mirror.layer.digest} 200`), "dockerd fetched the layer from docker-dedup");
  });
  await check("docker pull of the OCI image with an uncompressed layer", () => {
    ok("docker.pull.tar");
    dockerImage("docker.inspect.tar", fx.tar, `${reg}/test/bb@${fx.tar.manifest.digest}`);
  });
  await check("docker pull of the gzip image", () => {
    const { requests } = ok("docker.pull.gz");
    assert.match(requests, new RegExp(`GET /v2/test/bb/blobs/${fx.gz.layer.digest} 200`), "dockerd fetched the gzip layer");
    dockerImage("docker.inspect.gz", fx.gz, `${reg}/test/bb@${fx.gz.manifest.digest}`);
  });
  await check("docker pull of the multi-arch index selects amd64", () => {
    const { requests } = ok("docker.pull.multi");
    assert.match(requests, new RegExp(`GET /v2/test/bb/manifests/${fx.multi.amd64.manifest.digest} 200`), "amd64 manifest fetched");
    assert.doesNotMatch(requests, new RegExp(fx.multi.arm64.manifest.digest), "arm64 manifest not fetched");
    const inspected = dockerImage("docker.inspect.multi", fx.multi.amd64, `${reg}/test/bb@${fx.multi.index.digest}`);
    assert.equal(inspected.Architecture, "amd64");
  });
  await check("docker run --network none of the pulled image", () => {
    assert.equal(ok("docker.run").stdout, `tar ${fx.nonce}\n`);
  });

  // --- containerd ---
  await check("containerd starts", () => void ok("ctr.start"));
  await check("ctr images pull --plain-http of the uncompressed image (pulled and unpacked)", () => {
    ok("ctr.pull.tar");
    assert.match(ok("ctr.images").stdout, new RegExp(`${escape(reg)}/test/bb:tar\\s+${escape(OCI_MANIFEST)}\\s+${fx.tar.manifest.digest}`));
  });
  await check("ctr images pull --plain-http of the gzip image", () => {
    ok("ctr.pull.gz");
    assert.match(ok("ctr.images").stdout, new RegExp(`${escape(reg)}/test/bb:gz\\s+${escape(OCI_MANIFEST)}\\s+${fx.gz.manifest.digest}`));
  });
  await check("ctr pull of docker.io/library/bbmirror:latest through a hosts.toml mirror (?ns=docker.io)", () => {
    const { requests } = ok("ctr.pull.mirror");
    assert.match(ok("ctr.images").stdout, new RegExp(`docker\\.io/library/bbmirror:latest\\s+\\S+\\s+${fx.mirror.manifest.digest}`));
    assert.match(requests, /\/v2\/library\/bbmirror\/manifests\/latest\?ns=docker\.io 200/, "containerd's request carried ?ns=docker.io and was answered");
    assert.match(requests, new RegExp(`GET /v2/library/bbmirror/blobs/${fx.mirror.layer.digest}\\?ns=docker\\.io 200`), "layer fetched from docker-dedup");
  });
  await check("ctr pull of the multi-arch index fetches only the amd64 image", () => {
    ok("ctr.pull.multi");
    assert.match(ok("ctr.images").stdout, new RegExp(`${escape(reg)}/test/bb:multi\\s+${escape(OCI_INDEX)}\\s+${fx.multi.index.digest}`));
    const content = ok("ctr.content").stdout;
    assert.ok(content.includes(fx.multi.amd64.config.digest), "amd64 config fetched");
    assert.ok(content.includes(fx.multi.amd64.layer.digest), "amd64 layer fetched");
    assert.ok(!content.includes(fx.multi.arm64.config.digest), "arm64 config not fetched");
  });

  // --- podman ---
  interface PodmanImage {
    Id: string;
    Architecture: string;
    Digest: string;
    RootFS: { Layers: string[] };
  }
  await check("podman pull --tls-verify=false of the uncompressed image", () => {
    ok("podman.pull.tar");
    const [inspected] = json<PodmanImage[]>("podman.inspect.tar");
    assert.deepEqual(inspected?.RootFS.Layers, [fx.tar.diffId]);
    assert.equal(inspected?.Digest, fx.tar.manifest.digest);
  });
  await check("podman pull of docker.io/library/bbmirror:latest through a registries.conf mirror", () => {
    const { requests } = ok("podman.pull.mirror");
    assert.match(requests, /GET \/v2\/library\/bbmirror\/manifests\/latest 200/, "podman asked docker-dedup (the mirror) for the manifest");
    const [inspected] = json<PodmanImage[]>("podman.inspect.mirror");
    assert.deepEqual(inspected?.RootFS.Layers, [fx.mirror.diffId]);
    assert.equal(inspected?.Digest, fx.mirror.manifest.digest);
  });

  await check("podman pull of the multi-arch index selects amd64", () => {
    ok("podman.pull.multi");
    const [inspected] = json<PodmanImage[]>("podman.inspect.multi");
    assert.equal(inspected?.Architecture, "amd64");
    assert.equal(`sha256:${inspected?.Id}`, fx.multi.amd64.config.digest, "image ID = the amd64 config digest");
    assert.deepEqual(inspected?.RootFS.Layers, [fx.multi.amd64.diffId]);
  });

  // --- pull-through: a second docker-dedup, `serve --upstream docker.io=http://UPSTREAM`, in
  // front of a docker-registry holding library/bbpt ---
  const upstreamLog = await readFile(join(work, "out", "upstream.log"), "utf8").catch(() => "");
  const ptLayer = new RegExp(`GET /v2/library/bbpt/blobs/${fx.pt.layer.digest} 200`);
  const ptGzLayer = new RegExp(`GET /v2/library/bbpt/blobs/${fx.gz.layer.digest}\\?ns=docker\\.io 200`);
  await check("pull-through: docker-registry upstream holds library/bbpt; docker-dedup mirrors it (--upstream docker.io=URL)", () => {
    for (const id of ["pt.upstream.start", "pt.push.latest", "pt.push.gz", "pt.mirror.start"]) ok(id);
    assert.match(mirrorLog, /mirroring docker\.io from http:\/\/127\.0\.0\.1:5001/);
  });
  await check("pull-through: docker pull bbpt:latest through --registry-mirror fetches it from the upstream via docker-dedup", () => {
    ok("pt.docker.start");
    const { mirrorRequests } = ok("pt.docker.pull1");
    dockerImage("pt.docker.inspect1", fx.pt, `bbpt@${fx.pt.manifest.digest}`);
    assert.match(mirrorRequests, /(GET|HEAD) \/v2\/library\/bbpt\/manifests\/latest 200/, "dockerd asked docker-dedup for the manifest");
    assert.match(mirrorRequests, ptLayer, "dockerd fetched the layer from docker-dedup");
    assert.match(upstreamLog, new RegExp(`"GET /v2/library/bbpt/blobs/${fx.pt.layer.digest} HTTP/1\\.1" 200`), "docker-dedup fetched the layer from the upstream");
    assert.match(upstreamLog, /"(GET|HEAD) \/v2\/library\/bbpt\/manifests\/latest HTTP\/1\.1" 200/, "docker-dedup asked the upstream for the tag");
  });
  await check("pull-through: ctr pull docker.io/library/bbpt:gz through a hosts.toml mirror (gzip layer) fetches it via docker-dedup", () => {
    ok("pt.ctr.start");
    const { mirrorRequests } = ok("pt.ctr.pull1");
    assert.match(ok("pt.ctr.images1").stdout, new RegExp(`docker\\.io/library/bbpt:gz\\s+\\S+\\s+${fx.gz.manifest.digest}`));
    assert.match(mirrorRequests, ptGzLayer, "containerd fetched the gzip layer from docker-dedup");
    assert.match(upstreamLog, new RegExp(`"GET /v2/library/bbpt/blobs/${fx.gz.layer.digest} HTTP/1\\.1" 200`), "docker-dedup fetched it from the upstream");
  });
  await check("pull-through: the upstream is stopped (nothing answers on its port)", () => void ok("pt.upstream.stop"));
  await check("pull-through: after docker rmi, with the upstream gone, docker pull bbpt:latest is served from docker-dedup's store", () => {
    ok("pt.docker.rmi");
    const { mirrorRequests } = ok("pt.docker.pull2");
    dockerImage("pt.docker.inspect2", fx.pt, `bbpt@${fx.pt.manifest.digest}`);
    assert.match(mirrorRequests, /(GET|HEAD) \/v2\/library\/bbpt\/manifests\/latest 200/);
    assert.match(mirrorRequests, ptLayer, "the layer was downloaded again, from docker-dedup");
    assert.match(mirrorRequests, /mirror: serving docker\.io\/library\/bbpt:latest from the cache, unrevalidated/, "the tag (TTL 0) could not be revalidated and was served from the store");
  });
  await check("pull-through: after ctr images rm, with the upstream gone, ctr pulls docker.io/library/bbpt:gz from docker-dedup's store", () => {
    ok("pt.ctr.rm");
    assert.ok(!ok("pt.ctr.content").stdout.includes(fx.gz.layer.digest), "containerd no longer holds the layer");
    const { mirrorRequests } = ok("pt.ctr.pull2");
    assert.match(ok("pt.ctr.images2").stdout, new RegExp(`docker\\.io/library/bbpt:gz\\s+\\S+\\s+${fx.gz.manifest.digest}`));
    assert.match(mirrorRequests, ptGzLayer, "the layer was downloaded again, from docker-dedup");
  });
  await check("pull-through: the mirror stops cleanly and its store verifies", () => {
    ok("pt.mirror.stop");
    assert.match(ok("pt.verify").stdout, /all intact/);
  });

  // --- the registry itself ---
  await check("docker-dedup (both instances) answered no request with a 5xx and logged no server fault", () => {
    const bad = `${serveLog}\n${mirrorLog}`.split("\n").filter((line) => / 5\d\d \d+ms$/.test(line) || /: (Error|TypeError|RangeError)/.test(line));
    assert.deepEqual(bad, []);
  });
  await check("docker-dedup stops cleanly on SIGTERM", () => void ok("serve.stop"));
  await check("docker-dedup verify passes on the store after all pulls", () => {
    assert.match(ok("verify").stdout, /all intact/);
  });
  await check("the scenario script itself exited 0 and every process it started is gone", async () => {
    assert.equal(scenario.code, 0, tail(scenario.stderr));
    const leftovers = await processesUsing(dir);
    assert.deepEqual(leftovers, [], "processes still running with the scratch dir on their command line");
  });
  t.diagnostic(`steps: ${[...results].map(([id, r]) => `${id} ${r.code === 0 ? "" : `exit ${r.code} `}${r.ms}ms`).join(", ")}`);
});
