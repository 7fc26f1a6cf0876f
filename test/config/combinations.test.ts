import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveSettings, type SettingSources } from "../../src/config/resolve-settings.js";
import { serveConfigOf } from "../../src/config/serve-config.js";

/** How settings combine: checked once all sources are merged, one line per problem, named as each was given. */

function problems(sources: SettingSources, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    serveConfigOf(resolveSettings(sources), env);
    return [];
  } catch (error) {
    return (error as Error).message.split("\n");
  }
}

const file = (value: unknown) => ({ file: { name: "serve.yaml", value } });
const SITE = { site: "paris", peerListen: "127.0.0.1:5001", peerSecretFile: "secret" };

test("each inconsistent combination is one line, naming the settings as they were given", () => {
  const cases: [SettingSources, string][] = [
    [{ flags: { tlsCert: "c.pem" } }, "--tls-cert and --tls-key go together: give both or neither"],
    [file({ tlsKey: "k.pem" }), "tlsCert and tlsKey go together: give both or neither"],
    [{ env: { DOCKER_DEDUP_TLS_CERT: "c.pem" } }, "$DOCKER_DEDUP_TLS_CERT and $DOCKER_DEDUP_TLS_KEY go together: give both or neither"],
    [{ flags: { seedApi: "127.0.0.1:8080" } }, "--seed-api needs --seed-api-dir, the directory /checkout may write into"],
    [file({ defaultNamespace: null }), "defaultNamespace need mirrors (--upstream, or mirrors in the config file)"],
    [file({ mirrors: [{ upstream: "https://ghcr.io" }], defaultNamespace: "docker.io" }), "defaultNamespace docker.io is not one of the mirrored namespaces"],
    [{ ...file({ mirrors: [{ upstream: "https://ghcr.io" }] }), flags: { upstream: ["https://ghcr.io/"] } }, "namespace ghcr.io is mirrored twice"],
    [file({ mirrors: [{ upstream: "https://ghcr.io", username: "me", passwordEnv: "GHCR_TOKEN" }] }), "mirrors[0].passwordEnv: environment variable GHCR_TOKEN is not set"],
    [{ flags: { peer: ["lyon=http://h:1"], probeInterval: "10" } }, '--peer, --probe-interval need --site NAME (or "site" in the config file)'],
    [{ flags: { site: "paris" } }, "a site needs --peer-listen HOST:PORT and --peer-secret-file FILE or --peer-secret (peerListen, and peerSecretFile or peerSecret, in the config file)"],
    [{ ...file(SITE), env: { DOCKER_DEDUP_PEER_SECRET: "a secret of 16+ characters" } }, "give peerSecretFile or $DOCKER_DEDUP_PEER_SECRET, not both"],
    [{ ...file(SITE), flags: { peerTlsCa: "ca.pem" } }, "--peer-tls-cert, --peer-tls-key, --peer-tls-ca go together: give all three or none"],
    [file({ ...SITE, peers: [{ name: "paris", url: "http://h:1" }] }), "peer paris has this site's own name"],
    [file({ ...SITE, peers: [{ name: "lyon", url: "https://h:1" }] }), "peer lyon is https://h:1: an https:// peer API needs this site's certificate (--peer-tls-cert, --peer-tls-key, --peer-tls-ca)"],
    [{ flags: { authPolicy: "policy.json" } }, "--auth-policy needs users to apply to: --htpasswd, or --token-trust for an external token service (flags, or the same-named camelCase keys of the --config file)"],
  ];
  for (const [sources, line] of cases) assert.deepEqual(problems(sources), [line], JSON.stringify(sources));
});

test("every problem of a combination at once, a line each", () => {
  assert.deepEqual(problems({ ...file({ tlsCert: "c.pem", seedApi: "127.0.0.1:8080" }), flags: { site: "paris", peerTlsKey: "k.pem" } }), [
    "tlsCert and tlsKey go together: give both or neither",
    "seedApi needs seedApiDir, the directory /checkout may write into",
    "a site needs --peer-listen HOST:PORT and --peer-secret-file FILE or --peer-secret (peerListen, and peerSecretFile or peerSecret, in the config file)",
    "--peer-tls-cert, --peer-tls-key, --peer-tls-ca go together: give all three or none",
  ]);
});

test("settings that combine are grouped as serve's parts take them", () => {
  const config = serveConfigOf(
    resolveSettings({
      ...file({ ...SITE, mirrors: [{ upstream: "https://index.docker.io", username: "u", passwordEnv: "HUB" }], manifestTtlSeconds: 60, tlsCert: "c.pem", tlsKey: "k.pem" }),
      flags: { peer: ["lyon=http://10.0.0.2:5001"], htpasswd: "users", defaultNamespace: "none" },
    }),
    { HUB: "secret" },
  );
  assert.deepEqual(config, {
    tls: { cert: "c.pem", key: "k.pem" },
    mirror: { mirrors: [{ namespace: "docker.io", upstream: "https://index.docker.io", username: "u", password: "secret" }], defaultNamespace: null, manifestTtlSeconds: 60 },
    sites: { site: "paris", peerListen: "127.0.0.1:5001", peerSecretFile: "secret", peers: [{ name: "lyon", url: "http://10.0.0.2:5001" }] },
    auth: { htpasswd: "users" },
  });
});
