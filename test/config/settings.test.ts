import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_GC_GRACE } from "../../src/cli/gc.js";
import { DEFAULT_MANIFEST_TTL_SECONDS } from "../../src/config/mirror-config.js";
import { resolveSettings, type SettingSources } from "../../src/config/resolve-settings.js";
import { envName, flagName, SERVE_SETTINGS, SETTING_KEYS, specOf, withDefaults } from "../../src/config/serve-settings.js";
import { DEFAULT_REQUEST_LIMITS } from "../../src/registry/limits.js";
import { DEFAULT_UPLOAD_LIMITS } from "../../src/registry/upload-session.js";
import { DEFAULT_STORE_DIR } from "../../src/store/open.js";

/** serve's settings: one table, three sources, one precedence, one message per mistake. */

/** The problems a resolution throws, a line each; [] when it succeeds. */
function problems(sources: SettingSources): string[] {
  try {
    resolveSettings(sources);
    return [];
  } catch (error) {
    return (error as Error).message.split("\n");
  }
}

const file = (value: unknown, dir?: string) => ({ file: { name: "serve.yaml", value, ...(dir === undefined ? {} : { dir }) } });

test("precedence: a flag over its environment variable over the file over the default", () => {
  const effective = (sources: SettingSources) => withDefaults(resolveSettings(sources).settings).listen;
  assert.equal(effective({}), "127.0.0.1:5000");
  assert.equal(effective(file({ listen: "10.0.0.1:1" })), "10.0.0.1:1");
  assert.equal(effective({ ...file({ listen: "10.0.0.1:1" }), env: { DOCKER_DEDUP_LISTEN: "10.0.0.2:2" } }), "10.0.0.2:2");
  assert.equal(effective({ ...file({ listen: "10.0.0.1:1" }), env: { DOCKER_DEDUP_LISTEN: "10.0.0.2:2" }, flags: { listen: "10.0.0.3:3" } }), "10.0.0.3:3");
  assert.equal(effective({ env: { DOCKER_DEDUP_LISTEN: "10.0.0.2:2" }, flags: { listen: "10.0.0.3:3" } }), "10.0.0.3:3");
  assert.equal(effective({ ...file({ listen: "10.0.0.1:1" }), flags: { listen: "10.0.0.3:3" } }), "10.0.0.3:3");

  const resolved = resolveSettings({ ...file({ listen: "10.0.0.1:1", maxUploads: 5 }), env: { DOCKER_DEDUP_MAX_UPLOADS: "6", DOCKER_DEDUP_LOG_LEVEL: "debug" }, flags: { maxUploads: "7" } });
  assert.deepEqual(resolved.settings, { listen: "10.0.0.1:1", maxUploads: 7, logLevel: "debug" });
  assert.deepEqual(resolved.origins, { listen: [{ kind: "file", file: "serve.yaml" }], maxUploads: [{ kind: "flag" }], logLevel: [{ kind: "env" }] });
});

test("lists add up: the file's mirrors and peers, then the environment's, then the flags'", () => {
  const { settings } = resolveSettings({
    ...file({ mirrors: [{ upstream: "https://registry-1.docker.io" }], site: "paris", peers: [{ name: "lyon", url: "http://10.0.0.2:5001", bandwidth: 200 }] }),
    env: { DOCKER_DEDUP_UPSTREAM: "ghcr.io=https://ghcr.io, quay.io=https://quay.io", DOCKER_DEDUP_PEER: "nice=http://10.0.0.3:5001" },
    flags: { upstream: ["http://127.0.0.1:5001/"], peer: ["lille=http://10.0.0.4:5001"] },
  });
  assert.deepEqual(settings.mirrors?.map((m) => `${m.namespace} ${m.upstream}`), ["docker.io https://registry-1.docker.io", "ghcr.io https://ghcr.io", "quay.io https://quay.io", "127.0.0.1:5001 http://127.0.0.1:5001"]);
  assert.deepEqual(settings.peers, [{ name: "lyon", url: "http://10.0.0.2:5001", bandwidth: 200 }, { name: "nice", url: "http://10.0.0.3:5001" }, { name: "lille", url: "http://10.0.0.4:5001" }]);
});

test("every setting is a key, a flag and an environment variable of the same name", () => {
  assert.equal(new Set(SETTING_KEYS.map(flagName)).size, SETTING_KEYS.length);
  for (const key of SETTING_KEYS) {
    assert.match(flagName(key), /^--[a-z]+(-[a-z]+)*$/, key);
    assert.equal(envName(key), `DOCKER_DEDUP_${flagName(key).slice(2).replaceAll("-", "_").toUpperCase()}`);
    // The key is the flag in camelCase, but for the lists: a flag adds one item (--upstream, --peer) to the file's list (mirrors, peers).
    if (specOf(key).list !== true) assert.equal(key, flagName(key).slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()));
  }
  // The environment variables that worked before this table keep working.
  assert.equal(envName("store"), "DOCKER_DEDUP_STORE");
  assert.equal(envName("chunkCacheMb"), "DOCKER_DEDUP_CHUNK_CACHE_MB");
  assert.equal(envName("gzipCacheMb"), "DOCKER_DEDUP_GZIP_CACHE_MB");
  const { settings } = resolveSettings({ env: { DOCKER_DEDUP_STORE: "redis://h:1", DOCKER_DEDUP_CHUNK_CACHE_MB: "0", DOCKER_DEDUP_GZIP_CACHE_MB: "64", DOCKER_DEDUP_ACCESS_LOG: "yes", DOCKER_DEDUP_SITE: "" } });
  assert.deepEqual(settings, { store: "redis://h:1", chunkCacheMb: 0, gzipCacheMb: 64, accessLog: true }, "an empty variable sets nothing");
});

test("the defaults pass their own schemas and are the registry's own", () => {
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    if (spec.default !== undefined) assert.ok(spec.schema.safeParse(spec.default).success, `${key}'s default ${String(spec.default)}`);
  }
  const defaults = withDefaults({});
  assert.equal(defaults.store, DEFAULT_STORE_DIR);
  assert.equal(defaults.uploadTimeout * 1000, DEFAULT_UPLOAD_LIMITS.idleTimeoutMs);
  assert.equal(defaults.maxUploads, DEFAULT_UPLOAD_LIMITS.maxSessions);
  assert.equal(defaults.maxUploadsPerClient, DEFAULT_UPLOAD_LIMITS.maxSessionsPerClient);
  assert.equal(defaults.maxConnectionsPerClient, DEFAULT_REQUEST_LIMITS.maxConnectionsPerClient);
  assert.equal(defaults.maxBlobSize, DEFAULT_REQUEST_LIMITS.maxBlobBytes);
  assert.equal(defaults.minBodyRate, DEFAULT_REQUEST_LIMITS.minBodyBytesPerSecond);
  assert.equal(defaults.gcGrace, DEFAULT_GC_GRACE);
  assert.equal(defaults.manifestTtlSeconds, DEFAULT_MANIFEST_TTL_SECONDS);
  assert.equal(SERVE_SETTINGS.logLevel.default, "info");
});

test("a config file's paths are relative to its directory; a store URL and the flags' paths are left as given", () => {
  const dir = "/etc/docker-dedup";
  const { settings } = resolveSettings(file({ store: "data", tlsCert: "tls/cert.pem", tlsKey: "/abs/key.pem", peerSecretFile: "secret", gzipCacheDir: "cache", htpasswd: "users", tokenRealm: "https://r/token" }, dir));
  assert.deepEqual(settings, {
    store: join(dir, "data"),
    tlsCert: join(dir, "tls/cert.pem"),
    tlsKey: "/abs/key.pem",
    peerSecretFile: join(dir, "secret"),
    gzipCacheDir: join(dir, "cache"),
    htpasswd: join(dir, "users"),
    tokenRealm: "https://r/token",
  });
  assert.equal(resolveSettings(file({ store: "cassandra://h:9042/ks" }, dir)).settings.store, "cassandra://h:9042/ks");
  assert.equal(resolveSettings({ flags: { tlsCert: "cert.pem" } }).settings.tlsCert, "cert.pem");
});

test("each mistake in a config file is one line: where, what was expected, what was given", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ listen: "localhost" }, 'serve.yaml: listen: expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one), got "localhost"'],
    [{ listen: "127.0.0.1:70000" }, 'serve.yaml: listen: expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one), got "127.0.0.1:70000"'],
    [{ maxUploads: 1.5 }, "serve.yaml: maxUploads: expected uploads, a whole number > 0, got 1.5"],
    [{ maxBlobSize: "16G" }, 'serve.yaml: maxBlobSize: expected bytes, a whole number > 0, got "16G"'],
    [{ uploadTimeout: 0 }, "serve.yaml: uploadTimeout: expected seconds, a number > 0, got 0"],
    [{ chunkCacheMb: -1 }, "serve.yaml: chunkCacheMb: expected MiB, a number >= 0, got -1"],
    [{ maxConcurrentReads: -1 }, "serve.yaml: maxConcurrentReads: expected blobs, a whole number >= 0, got -1"],
    [{ logLevel: "verbose" }, 'serve.yaml: logLevel: expected trace, debug, info, warn, error or fatal, got "verbose"'],
    [{ accessLog: "yes" }, 'serve.yaml: accessLog: expected true or false, got "yes"'],
    [{ gcInterval: "1 hour" }, 'serve.yaml: gcInterval: expected a duration like 90s, 30m, 1h or 7d, or seconds, got "1 hour"'],
    [{ gcGrace: -1 }, "serve.yaml: gcGrace: expected a duration like 90s, 30m, 1h or 7d, or seconds, got -1"],
    [{ gcGrace: 1e-7 }, "serve.yaml: gcGrace: expected a duration like 90s, 30m, 1h or 7d, or seconds, got 1e-7"],
    [{ gcKeepUntagged: -1 }, "serve.yaml: gcKeepUntagged: expected manifests, a whole number >= 0, got -1"],
    [{ gcKeepUntagged: 2.5 }, "serve.yaml: gcKeepUntagged: expected manifests, a whole number >= 0, got 2.5"],
    [{ gcUntaggedOlderThan: "a week" }, 'serve.yaml: gcUntaggedOlderThan: expected a duration like 90s, 30m, 1h or 7d, or seconds, got "a week"'],
    [{ tlsCert: "" }, 'serve.yaml: tlsCert: expected a file name, got ""'],
    [{ store: 5 }, "serve.yaml: store: expected a store directory or URL, got 5"],
    [{ schedule: "fastest" }, 'serve.yaml: schedule: expected network-aware, random or single-source, got "fastest"'],
    [{ site: "Paris" }, `serve.yaml: site: expected a site name: lowercase letters, digits, '.', '_', '-' (at most 63), got "Paris"`],
    [{ peerSecret: "short" }, "serve.yaml: peerSecret: expected the secret all sites share, at least 16 characters"],
    [{ defaultNamespace: 3 }, "serve.yaml: defaultNamespace: expected a mirrored namespace, or null, got 3"],
    [{ mirrors: { upstream: "https://ghcr.io" } }, 'serve.yaml: mirrors: expected a list of mirrors, got {"upstream":"https://ghcr.io"}'],
    [{ mirrors: ["https://ghcr.io"] }, 'serve.yaml: mirrors[0]: expected a mirror: {namespace, upstream, username, password or passwordEnv}, got "https://ghcr.io"'],
    [{ mirrors: [{ namespace: "ghcr.io" }] }, "serve.yaml: mirrors[0].upstream: expected the upstream's http:// or https:// URL"],
    [{ mirrors: [{ upstream: "ftp://ghcr.io" }] }, 'serve.yaml: mirrors[0].upstream: expected an http:// or https:// URL, got "ftp://ghcr.io"'],
    [{ mirrors: [{ upstream: "https://me:pw@ghcr.io" }] }, 'serve.yaml: mirrors[0].upstream: put credentials in username/password (or passwordEnv), not in the URL, got "https://me:***@ghcr.io"'],
    [{ mirrors: [{ upstream: "https://ghcr.io", password: "pw" }] }, 'serve.yaml: mirrors[0]: username and password (or passwordEnv) go together, got {"upstream":"https://ghcr.io","password":"<masked>"}'],
    [{ mirrors: [{ upstream: "https://ghcr.io", namespace: "Not A Host" }] }, 'serve.yaml: mirrors[0].namespace: expected a registry host name, e.g. docker.io or localhost:5001, got "Not A Host"'],
    [{ peers: [{ name: "lyon", url: "http://h:1/v2" }] }, 'serve.yaml: peers[0].url: expected http(s)://HOST:PORT only, got "http://h:1/v2"'],
    [{ peers: [{ name: "lyon", url: "http://h:1", bandwidth: 0 }] }, "serve.yaml: peers[0].bandwidth: expected Mbit/s, a number > 0, got 0"],
    [{ peers: [{ name: "lyon", url: "http://h:1", speed: 1 }] }, "serve.yaml: unknown setting peers[0].speed (expected one of: name, url, bandwidth)"],
    [{ htpassword: "users" }, "serve.yaml: unknown setting htpassword (did you mean htpasswd?)"],
    [{ mirror: [] }, "serve.yaml: unknown setting mirror (did you mean mirrors?)"],
    [{ frobnicate: 1 }, "serve.yaml: unknown setting frobnicate"],
  ];
  for (const [value, line] of cases) assert.deepEqual(problems(file(value)), [line], JSON.stringify(value));
  assert.deepEqual(problems(file(["listen: x"])), ['serve.yaml: expected settings, one `key: value` a line (see the README\'s example file), got ["listen: x"]']);
  assert.deepEqual(problems(file(null)), [], "an empty file sets nothing");
  assert.deepEqual(problems(file({ gcInterval: 90, gcGrace: "7d" })), [], "a duration is text or a number of seconds");
});

test("the retention of untagged manifests is off by default, and set from any source", () => {
  const defaults = withDefaults({});
  assert.equal(defaults.gcKeepUntagged, undefined);
  assert.equal(defaults.gcUntaggedOlderThan, undefined);
  const { settings } = resolveSettings({ ...file({ gcKeepUntagged: 10, gcUntaggedOlderThan: "30d" }), env: { DOCKER_DEDUP_GC_KEEP_UNTAGGED: "3" }, flags: { gcUntaggedOlderThan: "7d" } });
  assert.deepEqual(settings, { gcKeepUntagged: 3, gcUntaggedOlderThan: "7d" });
  assert.deepEqual(problems(file({ gcKeepUntagged: 0, gcUntaggedOlderThan: 3600 })), [], "keep none; an age in seconds");
});

test("each mistake on the command line or in the environment is one line in the flag's words; secrets are not repeated", () => {
  const cases: [SettingSources, string][] = [
    [{ flags: { listen: "nonsense" } }, 'bad --listen "nonsense": expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one)'],
    [{ flags: { maxUploads: "many" } }, 'bad --max-uploads "many": expected uploads, a whole number > 0'],
    [{ flags: { logLevel: "loud" } }, 'bad --log-level "loud": expected trace, debug, info, warn, error or fatal'],
    [{ flags: { peer: ["lyon"] } }, 'bad --peer "lyon": expected a peer: NAME=URL on the command line, {name, url, bandwidth} in a file'],
    [{ flags: { upstream: ["https://me:pw@ghcr.io"] } }, 'bad --upstream "https://me:***@ghcr.io": put credentials in username/password (or passwordEnv), not in the URL'],
    [{ env: { DOCKER_DEDUP_CHUNK_CACHE_MB: "lots" } }, 'bad $DOCKER_DEDUP_CHUNK_CACHE_MB "lots": expected MiB, a number >= 0'],
    [{ env: { DOCKER_DEDUP_ACCESS_LOG: "maybe" } }, 'bad $DOCKER_DEDUP_ACCESS_LOG "maybe": expected true or false'],
    [{ env: { DOCKER_DEDUP_GC_KEEP_UNTAGGED: "all" } }, 'bad $DOCKER_DEDUP_GC_KEEP_UNTAGGED "all": expected manifests, a whole number >= 0'],
    [{ flags: { gcUntaggedOlderThan: "-1d" } }, 'bad --gc-untagged-older-than "-1d": expected a duration like 90s, 30m, 1h or 7d, or seconds'],
    [{ env: { DOCKER_DEDUP_PEER_SECRET: "hunter2" } }, "bad $DOCKER_DEDUP_PEER_SECRET: expected the secret all sites share, at least 16 characters"],
    [{ env: { DOCKER_DEDUP_PEER: "lyon=http://h:1 Nice=http://h:2" } }, `bad $DOCKER_DEDUP_PEER "Nice=http://h:2": expected a site name: lowercase letters, digits, '.', '_', '-' (at most 63)`],
  ];
  for (const [sources, line] of cases) assert.deepEqual(problems(sources), [line], JSON.stringify(sources));
});

test("several mistakes are several lines, from every source at once", () => {
  assert.deepEqual(problems({ ...file({ listen: "x", maxUplods: 3 }), env: { DOCKER_DEDUP_GC_GRACE: "soon" }, flags: { maxBlobSize: "-1" } }), [
    'serve.yaml: listen: expected HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one), got "x"',
    "serve.yaml: unknown setting maxUplods (did you mean maxUploads?)",
    'bad $DOCKER_DEDUP_GC_GRACE "soon": expected a duration like 90s, 30m, 1h or 7d, or seconds',
    'bad --max-blob-size "-1": expected bytes, a whole number > 0',
  ]);
});
