import assert from "node:assert/strict";
import { test } from "node:test";
import { parseConfigText } from "../../src/config/settings-file.js";

/** The config file is YAML, so JSON too; a syntax mistake is a line with its place. */

test("YAML and JSON read alike; an empty file is no settings", () => {
  const yaml = parseConfigText("a.yaml", "listen: 127.0.0.1:5000\nmirrors:\n  - upstream: https://ghcr.io # a comment\naccessLog: true\n");
  const json = parseConfigText("a.json", '{"listen": "127.0.0.1:5000", "mirrors": [{"upstream": "https://ghcr.io"}], "accessLog": true}');
  assert.deepEqual(yaml, json);
  assert.equal(parseConfigText("empty.yaml", "# nothing yet\n"), null);
  // YAML 1.2: `yes` and `on` are strings (the schema then refuses them for a boolean), not true.
  assert.deepEqual(parseConfigText("a.yaml", "accessLog: yes\n"), { accessLog: "yes" });
});

test("syntax mistakes name the file, line and column, one line each", () => {
  assert.throws(() => parseConfigText("serve.yaml", "listen: 127.0.0.1:5000\nlisten: 0.0.0.0:5000\n"), { message: "serve.yaml:2:1: Map keys must be unique" });
  assert.throws(() => parseConfigText("serve.json", '{"listen": "127.0.0.1:5000",\n "mirrors": [}\n'), (error: Error) => /^serve\.json:2:\d+: /.test(error.message));
});
