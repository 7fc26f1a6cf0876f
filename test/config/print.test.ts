import assert from "node:assert/strict";
import { test } from "node:test";
import { MASKED, printSettings } from "../../src/config/print-settings.js";
import { resolveSettings } from "../../src/config/resolve-settings.js";
import { withDefaults } from "../../src/config/serve-settings.js";
import { parseConfigText } from "../../src/config/settings-file.js";

/** `config print`: the settings in force, where each came from, secrets masked, itself a config file. */

const SECRET = "the-peer-secret-itself";

test("secrets are masked: the peer secret, mirrors' passwords, a password in the store URL", () => {
  const resolved = resolveSettings({
    file: { name: "serve.yaml", value: { site: "paris", peerListen: "127.0.0.1:5001", mirrors: [{ upstream: "https://ghcr.io", username: "me", password: "hunter2-password" }], tokenKey: "/etc/dd/token-key.pem" } },
    env: { DOCKER_DEDUP_PEER_SECRET: SECRET, DOCKER_DEDUP_STORE: "cassandra://dd:cassandra-pw@10.0.0.1:9042/registry" },
  });
  const printed = printSettings(resolved);
  for (const secret of [SECRET, "hunter2-password", "cassandra-pw"]) assert.ok(!printed.includes(secret), `${secret} printed:\n${printed}`);
  const back = parseConfigText("printed", printed) as Record<string, unknown>;
  assert.equal(back.peerSecret, MASKED);
  assert.deepEqual(back.mirrors, [{ upstream: "https://ghcr.io", username: "me", password: MASKED, namespace: "ghcr.io" }]);
  assert.equal(back.store, "cassandra://dd:***@10.0.0.1:9042/registry");
  assert.equal(back.tokenKey, "/etc/dd/token-key.pem", "a key file is named; its content is never read");
});

test("each line says where its value came from, and the output is a config file serve takes back", () => {
  const resolved = resolveSettings({
    file: { name: "/etc/dd/serve.yaml", value: { listen: "0.0.0.0:5000", maxUploads: 9, mirrors: [{ upstream: "https://ghcr.io" }] } },
    env: { DOCKER_DEDUP_MAX_UPLOADS: "10", DOCKER_DEDUP_UPSTREAM: "quay.io=https://quay.io" },
    flags: { logLevel: "debug" },
  });
  const printed = printSettings(resolved);
  assert.match(printed, /^listen: 0\.0\.0\.0:5000 # from \/etc\/dd\/serve\.yaml$/m);
  assert.match(printed, /^maxUploads: 10 # from \$DOCKER_DEDUP_MAX_UPLOADS$/m);
  assert.match(printed, /^logLevel: debug # from --log-level$/m);
  assert.match(printed, /^chunkCacheMb: 512 # from default$/m);
  assert.match(printed, /^mirrors: # from \/etc\/dd\/serve\.yaml \+ \$DOCKER_DEDUP_UPSTREAM$/m);
  const again = resolveSettings({ file: { name: "printed", value: parseConfigText("printed", printed) } });
  assert.deepEqual(withDefaults(again.settings), withDefaults(resolved.settings));
});
