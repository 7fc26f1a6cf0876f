import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CLI, REPO_ROOT, run } from "../helpers.js";
import { escape, missingTools, processesUsing, readSteps, runScenario, stepChecker, tail } from "./scenario.js";

/**
 * Real clients against `docker-dedup serve` with auth on (test/e2e/auth/scenario.sh, in new
 * network, PID and mount namespaces holding only `lo`): HTTP basic from an htpasswd file made by
 * Apache's `htpasswd -B`, then bearer tokens from the built-in token service with an `openssl`
 * EC key, both under one policy (alice owns alice/** and public/**, bob may pull and push bob/**,
 * anyone may pull public/**). skopeo, dockerd, podman and containerd's ctr each log in, push and
 * pull what they may, are refused what they may not (with the spec's codes and challenges, seen
 * through curl), and a cross-repository mount from alice's repository into bob's never happens.
 *
 * Needs root and the Debian packages docker.io containerd podman skopeo apache2-utils openssl
 * curl iproute2 util-linux tar.
 */

const SCENARIO = join(REPO_ROOT, "test/e2e/auth/scenario.sh");
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const MODES = ["basic", "token"] as const;

const sha256 = (data: Uint8Array | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/**
 * An OCI layout with two one-layer images (uncompressed tar layers holding one file each), refs
 * `app` and `tools`. New content on every run: skopeo's and podman's blob-info cache, shared by
 * all runs on the machine, must not stand in for uploads.
 */
async function makeLayout(dir: string): Promise<{ layout: string; manifests: Record<"app" | "tools", string>; layers: Record<"app" | "tools", string> }> {
  const layout = join(dir, "layout");
  const blobDir = join(layout, "blobs", "sha256");
  await mkdir(blobDir, { recursive: true });
  const blob = async (mediaType: string, data: Buffer) => {
    await writeFile(join(blobDir, sha256(data).slice("sha256:".length)), data);
    return { mediaType, digest: sha256(data), size: data.length };
  };
  const nonce = randomUUID();
  const manifests = { app: "", tools: "" };
  const layers = { app: "", tools: "" };
  const index = [];
  for (const ref of ["app", "tools"] as const) {
    const content = join(dir, ref);
    await mkdir(content);
    await writeFile(join(content, `${ref}.txt`), `${ref} ${nonce}\n`);
    await run("tar", ["--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", content, "-cf", `${content}.tar`, `${ref}.txt`]);
    const tar = await readFile(`${content}.tar`);
    const layer = await blob("application/vnd.oci.image.layer.v1.tar", tar);
    const config = await blob("application/vnd.oci.image.config.v1+json", Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.digest] } })));
    const manifest = await blob(OCI_MANIFEST, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [layer] })));
    manifests[ref] = manifest.digest;
    layers[ref] = layer.digest;
    index.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": ref } });
  }
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(join(layout, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: index }));
  return { layout, manifests, layers };
}

test("real clients with auth: docker login, skopeo/podman --creds, ctr --user; basic and token; refusals and mounts", { timeout: 240_000 }, async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root (namespaces, dockerd, containerd)");
  const missing = missingTools(["setpriv", "unshare", "dockerd", "docker", "containerd", "ctr", "podman", "skopeo", "htpasswd", "openssl", "curl", "ip", "tar"]);
  assert.deepEqual(missing, [], "missing tools (Debian packages docker.io containerd podman skopeo apache2-utils openssl curl iproute2 util-linux tar)");

  const dir = await mkdtemp(join(tmpdir(), "docker-dedup-auth-"));
  let stopScenario = async () => {};
  t.after(async () => {
    await stopScenario();
    // DOCKER_DEDUP_E2E_KEEP=1 keeps the scratch dir (logs of every step under work/out) for debugging.
    if (process.env.DOCKER_DEDUP_E2E_KEEP) t.diagnostic(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  });
  const started = Date.now();
  const fx = await makeLayout(dir);
  const work = join(dir, "work");
  await mkdir(work);
  const scenario = await runScenario(SCENARIO, { WORK: work, LAYOUT: fx.layout, NODE: process.execPath, CLI }, 180_000, (stop) => (stopScenario = stop));
  t.diagnostic(`scenario took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const { results, serveLog } = await readSteps(work);
  t.diagnostic(`steps: ${[...results].map(([id, r]) => `${id} ${r.code === 0 ? "" : `exit ${r.code} `}${r.ms}ms`).join(", ")}`);
  const ok = stepChecker(results, scenario, () => serveLog);
  /** A step that ran and failed, as it must; its stderr. */
  const refused = (id: string): string => {
    const r = results.get(id);
    assert.ok(r, `step ${id} did not run (an earlier step it needs failed). scenario exit ${scenario.code}; its stderr:\n${tail(scenario.stderr)}`);
    assert.notEqual(r.code, 0, `step ${id} must be refused, but exited 0. stdout:\n${tail(r.stdout, 10)}\nregistry log (tail):\n${tail(serveLog, 15)}`);
    return r.stderr;
  };
  const check = (name: string, fn: () => void | Promise<void>) => t.test(name, fn);

  await check("Apache's htpasswd -B made the users, openssl the token key", () => {
    ok("users");
    ok("token.key");
  });
  for (const m of MODES) {
    const reg = m === "basic" ? "127.0.0.1:5000" : "127.0.0.1:5001";
    const app = escape(fx.layers.app);
    await check(`${m}: serve starts with auth on`, () => {
      ok(`${m}.serve.start`);
      assert.match(serveLog, m === "basic" ? /auth: HTTP basic, 2 users from / : /auth: bearer tokens for dd-e2e, from the built-in token service at http:\/\/127\.0\.0\.1:5001\/auth\/token \(2 users from .*ES256 key/);
    });

    // --- skopeo ---
    await check(`${m}: skopeo pushes with --dest-creds and pulls with --src-creds, byte-exact`, async () => {
      ok(`${m}.skopeo.push.alice`);
      ok(`${m}.skopeo.push.public`);
      ok(`${m}.skopeo.pull.alice`);
      const index = JSON.parse(await readFile(join(work, `pulled-${m}`, "index.json"), "utf8")) as { manifests: { digest: string }[] };
      assert.equal(index.manifests[0]?.digest, fx.manifests.app);
    });
    await check(`${m}: skopeo without credentials may not push, bob may not read alice's repository, a bad password is refused`, () => {
      assert.match(refused(`${m}.skopeo.push.anonymous`), m === "basic" ? /unauthorized: authentication required/ : /insufficient scope/);
      assert.match(refused(`${m}.skopeo.inspect.bob`), m === "basic" ? /denied: requested access to the resource is denied/ : /insufficient scope: the token does not grant this request/);
      assert.match(refused(`${m}.skopeo.inspect.badpw`), /invalid username or password/);
    });
    await check(`${m}: skopeo pulls public/** anonymously, as the policy allows`, () => {
      assert.equal(sha256(ok(`${m}.skopeo.inspect.anonymous`).stdout), fx.manifests.tools);
    });
    await check(`${m}: skopeo as bob: its mount candidate alice/private is refused at its HEAD, so it uploads; alice's push to alice/copy mounts`, () => {
      const { requests } = ok(`${m}.skopeo.push.bob`);
      assert.match(requests, new RegExp(`HEAD /v2/alice/private/blobs/${app} ${m === "basic" ? 403 : 401} `));
      assert.match(requests, new RegExp(`\\[bob\\] PUT /v2/bob/app/blobs/uploads/\\S+digest=${escape(encodeURIComponent(fx.layers.app))} 201`));
      assert.match(ok(`${m}.skopeo.push.alice.copy`).requests, new RegExp(`\\[alice\\] POST /v2/alice/copy/blobs/uploads/\\?from=alice%2Fprivate&mount=${escape(encodeURIComponent(fx.layers.app))} 201`));
    });

    // --- the answers themselves ---
    await check(`${m}: curl sees the spec's codes and the ${m === "basic" ? "Basic" : "Bearer"} challenge`, () => {
      const anonymous = ok(`${m}.curl.anonymous`).stdout;
      assert.match(anonymous, /^HTTP\/1\.1 401 /);
      const challenge = m === "basic" ? 'Basic realm="docker-dedup"' : `Bearer realm="http://${reg}/auth/token",service="dd-e2e",scope="repository:alice/private:pull"`;
      assert.match(anonymous, new RegExp(`^WWW-Authenticate: ${escape(challenge)}\r$`, "m"));
      assert.match(anonymous, /"code":"UNAUTHORIZED"/);
      const bob = ok(`${m}.curl.bob`).stdout;
      if (m === "basic") {
        assert.match(bob, /^HTTP\/1\.1 403 /);
        assert.doesNotMatch(bob, /WWW-Authenticate/);
        assert.match(bob, /"code":"DENIED".*"detail":\{"access":\[\{"type":"repository","name":"alice\/private","action":"pull"\}\]\}/);
      } else {
        assert.match(bob, /^HTTP\/1\.1 401 /);
        assert.match(bob, new RegExp(`^WWW-Authenticate: ${escape(challenge)},error="insufficient_scope"\r$`, "m"));
        assert.match(bob, /"code":"UNAUTHORIZED"/);
      }
      assert.match(ok(`${m}.curl.alice`).stdout, new RegExp(`^Docker-Content-Digest: ${escape(fx.manifests.app)}\r$`, "m"));
    });

    // --- dockerd ---
    await check(`${m}: docker login refuses a bad password, then logs alice in`, () => {
      assert.match(refused(`${m}.docker.login.badpw`), m === "basic" ? /401 Unauthorized/ : /invalid username or password/);
      assert.match(ok(`${m}.docker.login.alice`).stdout, /Login Succeeded/);
    });
    await check(`${m}: docker pulls and pushes as alice; its push mounts the layer from alice/private`, () => {
      ok(`${m}.docker.pull.alice`);
      const { requests } = ok(`${m}.docker.push.alice`);
      assert.match(requests, new RegExp(`\\[alice\\] POST /v2/alice/pushed/blobs/uploads/\\?from=alice%2Fprivate&mount=${escape(encodeURIComponent(fx.layers.app))} 201`));
    });
    await check(`${m}: docker as bob: pulling alice's repository is denied; pushing her layers, the mount from alice/* becomes an upload session`, () => {
      ok(`${m}.docker.login.bob`);
      assert.match(refused(`${m}.docker.pull.bob`), /pull access denied .* denied: requested access to the resource is denied/);
      const { requests } = ok(`${m}.docker.push.bob`);
      const mount = new RegExp(`\\[bob\\] POST /v2/bob/fromdocker/blobs/uploads/\\?from=alice%2F\\w+&mount=${escape(encodeURIComponent(fx.layers.app))} 202`);
      assert.match(requests, mount, "docker asked for the mount, and got a session");
      assert.match(requests, /\[bob\] PATCH \/v2\/bob\/fromdocker\/blobs\/uploads\/\S+ 202/, "and uploaded into it");
    });
    await check(`${m}: docker pulls public/** anonymously ${m === "basic" ? "only with tokens: a Basic challenge needs credentials" : "(an anonymous token)"}`, () => {
      ok(`${m}.docker.logout`);
      if (m === "basic") assert.match(refused(`${m}.docker.pull.anonymous`), /no basic auth credentials/);
      else ok(`${m}.docker.pull.anonymous`);
    });

    // --- podman ---
    await check(`${m}: podman --creds pulls alice's repository as alice, not as bob nor with a bad password; anonymous pull of public/**; push as bob`, () => {
      ok(`${m}.podman.pull.alice`);
      assert.match(refused(`${m}.podman.pull.bob`), m === "basic" ? /denied: requested access to the resource is denied/ : /insufficient scope/);
      assert.match(refused(`${m}.podman.pull.badpw`), /invalid username or password/);
      ok(`${m}.podman.pull.anonymous`);
      ok(`${m}.podman.push.bob`);
    });

    // --- containerd ---
    await check(`${m}: ctr --user through a hosts.toml: alice pulls, bob is refused, a bad password too; anonymous pull of public/**`, () => {
      ok(`${m}.ctr.pull.alice`);
      assert.match(refused(`${m}.ctr.pull.bob`), m === "basic" ? /403 Forbidden/ : /insufficient_scope/);
      assert.match(refused(`${m}.ctr.pull.badpw`), /401 Unauthorized/);
      ok(`${m}.ctr.pull.anonymous`);
    });
    await check(`${m}: ctr pushes as bob: its mounts from alice/private become upload sessions it finishes`, () => {
      const { requests } = ok(`${m}.ctr.push.bob`);
      assert.match(requests, new RegExp(`\\[bob\\] POST /v2/bob/ctr/blobs/uploads/\\?mount=${app}&from=alice/private 202`));
      assert.match(requests, new RegExp(`\\[bob\\] PUT /v2/bob/ctr/blobs/uploads/\\S+digest=${escape(encodeURIComponent(fx.layers.app))} 201`));
    });

    await check(`${m}: the registry stops cleanly and its store verifies`, () => {
      ok(`${m}.serve.stop`);
      assert.match(ok(`${m}.verify`).stdout, /all intact/);
    });
  }

  await check("no mount from alice's repositories into bob's was ever done", () => {
    assert.deepEqual(serveLog.split("\n").filter((line) => /POST \/v2\/bob\/\S*from=alice\S* 201/.test(line)), []);
  });
  await check("the registries answered no request with a 5xx and logged no server fault", () => {
    assert.deepEqual(serveLog.split("\n").filter((line) => / 5\d\d \d+ms$/.test(line) || /: (Error|TypeError|RangeError)|bug:/.test(line)), []);
  });
  await check("the scenario script itself exited 0 and every process it started is gone", async () => {
    assert.equal(scenario.code, 0, tail(scenario.stderr));
    assert.deepEqual(await processesUsing(dir), [], "processes still running with the scratch dir on their command line");
  });
});
