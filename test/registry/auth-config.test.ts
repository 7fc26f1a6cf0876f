import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { planAuth, type AuthSettings } from "../../src/config/auth-settings.js";
import { loadServeConfig, parseServeConfig } from "../../src/config/serve-config.js";
import { runCli, tempDir } from "../helpers.js";
import { serveCli } from "./harness.js";

/** `serve`'s auth settings: how flags and config keys combine, and `serve` with them. */

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });
const TOKEN = { tokenRealm: "https://registry.example/auth/token", tokenService: "registry.example" };

test("planAuth: the modes the settings ask for", () => {
  assert.equal(planAuth({}), undefined, "no settings: an open registry");
  assert.deepEqual(planAuth({ htpasswd: "u" }), { mode: "basic", htpasswd: "u" });
  assert.deepEqual(planAuth({ htpasswd: "u", authPolicy: "p" }), { mode: "basic", htpasswd: "u", policy: "p" });
  assert.deepEqual(planAuth({ htpasswd: "u", tokenKey: "k", ...TOKEN }), {
    mode: "token",
    realm: TOKEN.tokenRealm,
    service: TOKEN.tokenService,
    issuer: TOKEN.tokenService,
    builtIn: { htpasswd: "u", key: "k", path: "/auth/token" },
  });
  assert.deepEqual(planAuth({ tokenTrust: "t", tokenIssuer: "auth.example", authPolicy: "p", ...TOKEN }), {
    mode: "token",
    realm: TOKEN.tokenRealm,
    service: TOKEN.tokenService,
    issuer: "auth.example",
    trust: "t",
    policy: "p",
  });
  const rotation = planAuth({ htpasswd: "u", tokenKey: "k", tokenTrust: "old", tokenIssuer: "i", ...TOKEN });
  assert.equal(rotation?.mode === "token" && rotation.trust, "old", "the built-in service may trust more keys (a rotation)");
});

test("planAuth: each inconsistent combination is refused with its own message", () => {
  const cases: [AuthSettings, RegExp][] = [
    [{ authPolicy: "p" }, /--auth-policy needs users to apply to/],
    [{ tokenRealm: TOKEN.tokenRealm }, /--token-realm: bearer tokens need --token-key .* or --token-trust/],
    [{ htpasswd: "u", ...TOKEN }, /--token-realm, --token-service: bearer tokens need/],
    [{ htpasswd: "u", tokenKey: "k" }, /--token-key needs --token-realm URL .* and --token-service NAME/],
    [{ tokenTrust: "t", tokenRealm: TOKEN.tokenRealm, tokenIssuer: "i" }, /--token-trust needs --token-realm URL .* and --token-service NAME/],
    [{ tokenKey: "k", ...TOKEN }, /--token-key needs --htpasswd/],
    [{ htpasswd: "u", tokenTrust: "t", tokenIssuer: "i", ...TOKEN }, /--htpasswd has no use with an external token service/],
    [{ tokenTrust: "t", ...TOKEN }, /--token-trust needs --token-issuer NAME/],
    [{ htpasswd: "u", tokenKey: "k", ...TOKEN, tokenRealm: "/auth/token" }, /expected an absolute http:\/\/ or https:\/\/ URL/],
    [{ htpasswd: "u", tokenKey: "k", ...TOKEN, tokenRealm: "ftp://r/token" }, /expected an http:\/\/ or https:\/\/ URL/],
    [{ htpasswd: "u", tokenKey: "k", ...TOKEN, tokenRealm: "https://r/token?x=1" }, /no query, fragment or credentials/],
    [{ htpasswd: "u", tokenKey: "k", ...TOKEN, tokenRealm: "https://r/v2/token" }, /path must lie outside \/v2\//],
  ];
  for (const [settings, message] of cases) {
    assert.throws(() => planAuth(settings), (error: Error) => message.test(error.message) && /camelCase keys of the --config file/.test(error.message), JSON.stringify(settings));
  }
});

test("config file: the auth keys are checked, and their files are relative to the file", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "serve.json");
  await writeFile(file, JSON.stringify({ htpasswd: "users", authPolicy: "/etc/policy.json", tokenKey: "k.pem", tokenRealm: TOKEN.tokenRealm, tokenService: "s" }));
  const config = await loadServeConfig(file);
  assert.deepEqual(config.auth, { htpasswd: join(dir, "users"), authPolicy: "/etc/policy.json", tokenKey: join(dir, "k.pem"), tokenRealm: TOKEN.tokenRealm, tokenService: "s" });
  assert.throws(() => parseServeConfig({ htpasswd: 3 }), /htpasswd: expected a file name/);
  assert.throws(() => parseServeConfig({ tokenService: "" }), /tokenService: expected this registry's name in tokens, got ""/);
  assert.throws(() => parseServeConfig({ htpassword: "x" }), /unknown setting htpassword/);
  assert.equal(parseServeConfig({}).auth, undefined);
});

test("serve: inconsistent or unusable auth settings stop it at start, before the store opens", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "md5"), "alice:$apr1$abc$0123456789abcdef012345\n");
  await writeFile(join(dir, "policy.json"), JSON.stringify({ rules: [{ repositories: ["x"], users: ["*"], actions: ["pul"] }] }));
  await writeFile(join(dir, "users"), `alice:${bcrypt.hashSync("pw", 4)}\n`);
  const serve = (...args: string[]) => runCli(["serve", "--store", join(dir, "store"), "--listen", "127.0.0.1:0", ...args]);
  const cases: [string[], RegExp][] = [
    [["--token-key", "k.pem"], /--token-key needs --token-realm/],
    [["--auth-policy", join(dir, "policy.json")], /--auth-policy needs users/],
    [["--htpasswd", join(dir, "md5")], /md5:1: user "alice": Apache MD5 \(\$apr1\$\) hash; only bcrypt/],
    [["--htpasswd", join(dir, "users"), "--auth-policy", join(dir, "policy.json")], /rules\[0\]\.actions\[0\]: unknown action "pul"/],
    [["--htpasswd", join(dir, "users"), "--token-key", join(dir, "users"), "--token-realm", "http://127.0.0.1:1/auth/token", "--token-service", "s"], /not a PEM private key/],
    [["--htpasswd", join(dir, "nowhere")], /cannot read the htpasswd file/],
  ];
  for (const [args, message] of cases) {
    const result = await serve(...args);
    assert.equal(result.code, 1, args.join(" "));
    assert.match(result.stderr, message);
  }
  assert.equal(existsSync(join(dir, "store")), false, "refused before the store was made");
});

test("serve --config with htpasswd and a policy: basic auth; --token-* flags over it: the built-in token service", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "users"), `alice:${bcrypt.hashSync("alice-pw", 4)}\n`);
  await writeFile(join(dir, "policy.json"), JSON.stringify({ anonymousPull: ["public/**"], rules: [{ repositories: ["alice/**"], users: ["alice"], actions: ["*"] }] }));
  await writeFile(join(dir, "serve.json"), JSON.stringify({ htpasswd: "users", authPolicy: "policy.json" }));
  const basicServe = await serveCli(t, ["--store", join(dir, "basic"), "--config", join(dir, "serve.json")], { until: /auth: HTTP basic/ });
  assert.match(basicServe.stderr(), /auth: HTTP basic, 1 users from .*users; policy .*policy\.json/);
  assert.equal((await fetch(`${basicServe.url}/v2/`)).status, 401);
  assert.equal((await fetch(`${basicServe.url}/v2/`, { headers: basic("alice", "alice-pw") })).status, 200);
  assert.equal((await fetch(`${basicServe.url}/v2/`, { headers: basic("alice", "wrong") })).status, 401);
  assert.equal((await fetch(`${basicServe.url}/v2/public/x/tags/list`)).status, 404, "anonymous pull of public/**: past auth, to NAME_UNKNOWN");

  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(dir, "key.pem"), privateKey.export({ type: "sec1", format: "pem" }));
  const realm = "http://127.0.0.1:9/auth/token"; // clients are not sent there in this test
  const tokenServe = await serveCli(t, ["--store", join(dir, "token"), "--config", join(dir, "serve.json"), "--token-key", join(dir, "key.pem"), "--token-realm", realm, "--token-service", "dd.test"], {
    until: /auth: bearer/,
  });
  assert.match(tokenServe.stderr(), /auth: bearer tokens for dd\.test, from the built-in token service at http:\/\/127\.0\.0\.1:9\/auth\/token \(1 users from .*users, ES256 key [A-Z0-9:]{59}\)/);
  const ping = await fetch(`${tokenServe.url}/v2/`);
  assert.equal(ping.headers.get("www-authenticate"), `Bearer realm="${realm}",service="dd.test"`);
  const res = await fetch(`${tokenServe.url}/auth/token?service=dd.test&scope=repository:alice/app:pull,push`, { headers: basic("alice", "alice-pw") });
  assert.equal(res.status, 200);
  const { token } = (await res.json()) as { token: string };
  const pushed = await fetch(`${tokenServe.url}/v2/alice/app/blobs/uploads/`, { method: "POST", headers: { Authorization: `Bearer ${token}` } });
  assert.equal(pushed.status, 202);
});
