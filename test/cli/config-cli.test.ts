import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { SETTING_KEYS } from "../../src/config/serve-settings.js";
import { REPO_ROOT, runCli, tempDir } from "../helpers.js";
import { expectError, openUpload, serveCli } from "../registry/harness.js";

/** `--version`, `config check FILE`, `config print`, serve's settings from a file and the environment, and the README's example config file. */

test("--version and -V print the package's version", async () => {
  const { version } = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  for (const flag of ["--version", "-V"]) {
    const result = await runCli([flag]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${version}\n`);
  }
});

test("config check FILE: exit 0 for a right file; else non-zero and each mistake on its own line", async (t) => {
  const dir = await tempDir(t);
  const good = join(dir, "good.yaml");
  await writeFile(good, "listen: 0.0.0.0:5000\nmaxUploads: 64\nmirrors:\n  - upstream: https://registry-1.docker.io\n");
  const ok = await runCli(["config", "check", good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `${good}: valid\n`);

  const bad = join(dir, "bad.yaml");
  await writeFile(bad, "listen: 0.0.0.0\nmaxUplods: 64\ntlsCert: cert.pem\n");
  const refused = await runCli(["config", "check", bad]);
  assert.equal(refused.code, 1);
  assert.deepEqual(refused.stderr.trimEnd().split("\n"), [
    `docker-dedup: ${bad}: listen: expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one), got "0.0.0.0"`,
    `docker-dedup: ${bad}: unknown setting maxUplods (did you mean maxUploads?)`,
  ]);
  await writeFile(bad, "tlsCert: cert.pem\n");
  const half = await runCli(["config", "check", bad]);
  assert.equal(half.code, 1);
  assert.equal(half.stderr, "docker-dedup: tlsCert and tlsKey go together: give both or neither\n");
  // The file alone is checked: the environment does not complete it.
  assert.equal((await runCli(["config", "check", bad], { DOCKER_DEDUP_TLS_KEY: "key.pem" })).code, 1);
  assert.equal((await runCli(["config", "check", join(dir, "missing.yaml")])).code, 1);
  await writeFile(bad, "listen: [\n");
  assert.match((await runCli(["config", "check", bad])).stderr, new RegExp(`^docker-dedup: ${bad}:2:1: `));
});

test("config print: flags over the environment over the file over the defaults, secrets masked", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "serve.yaml");
  await writeFile(file, "listen: 0.0.0.0:5000\nmaxUploads: 8\nchunkCacheMb: 64\nstore: data\n");
  const result = await runCli(["config", "print", "--config", file, "--max-uploads", "10"], { DOCKER_DEDUP_CHUNK_CACHE_MB: "128", DOCKER_DEDUP_MAX_UPLOADS: "9", DOCKER_DEDUP_PEER_SECRET: "0123456789abcdef-secret", DOCKER_DEDUP_SITE: "paris", DOCKER_DEDUP_PEER_LISTEN: "127.0.0.1:0" });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^listen: 0\.0\.0\.0:5000 # from .*serve\.yaml$/m);
  assert.match(result.stdout, /^maxUploads: 10 # from --max-uploads$/m);
  assert.match(result.stdout, /^chunkCacheMb: 128 # from \$DOCKER_DEDUP_CHUNK_CACHE_MB$/m);
  assert.match(result.stdout, /^gcInterval: 1h # from default$/m);
  assert.match(result.stdout, new RegExp(`^store: ${join(dir, "data")} # from`, "m"), "relative to the file's directory");
  assert.match(result.stdout, /^peerSecret: <masked> # from \$DOCKER_DEDUP_PEER_SECRET$/m);
  assert.doesNotMatch(result.stdout, /0123456789abcdef-secret/);
  // $DOCKER_DEDUP_CONFIG names the file when --config does not.
  const viaEnv = await runCli(["config", "print"], { DOCKER_DEDUP_CONFIG: file });
  assert.match(viaEnv.stdout, /^maxUploads: 8 # from /m);
});

test("serve runs with the settings of $DOCKER_DEDUP_CONFIG's file, the environment's over the file's", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "serve.yaml");
  await writeFile(file, "store: data\nmaxUploads: 1\ngzipCacheMb: 0\n");
  const serve = await serveCli(t, [], { env: { DOCKER_DEDUP_CONFIG: file, DOCKER_DEDUP_MAX_UPLOADS: "2" } });
  assert.match(serve.stderr(), new RegExp(`\\(store ${join(dir, "data")}\\)`), "the file's store, relative to the file");
  await openUpload(serve.url, "app");
  await openUpload(serve.url, "app");
  await expectError(await fetch(`${serve.url}/v2/app/blobs/uploads/`, { method: "POST" }), 429, "TOOMANYREQUESTS");
});

test("the README's example config file holds every setting and passes config check", async (t) => {
  const readme = await readFile(join(REPO_ROOT, "README.md"), "utf8");
  const example = /## The config file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "README: a yaml block under '## The config file'");
  for (const key of SETTING_KEYS) assert.match(example, new RegExp(`^(# )?\\s*${key}:`, "m"), `${key} is in the example`);
  const file = join(await tempDir(t), "example.yaml");
  await writeFile(file, example);
  const result = await runCli(["config", "check", file], { HUB_TOKEN: "set-where-serve-runs" });
  assert.equal(result.code, 0, result.stderr);
});
