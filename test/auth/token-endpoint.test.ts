import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { AuthConfigError } from "../../src/auth/errors.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Policy } from "../../src/auth/policy.js";
import { createTokenHandler, type TokenRequest } from "../../src/auth/token-endpoint.js";
import { verifyToken } from "../../src/auth/token.js";
import { ecKey, trustedKeyOf } from "./fixtures.js";

const NOW = Date.UTC(2025, 0, 1, 8, 30);
const KEY = ecKey();
const USERS = Htpasswd.parse(`alice:${bcrypt.hashSync("alice:pw", 4)}\nadmin:${bcrypt.hashSync("admin-pw", 4)}`);
const POLICY = Policy.parse({
  anonymousPull: ["public/**"],
  rules: [
    { repositories: ["team/*"], users: ["alice"], actions: ["pull", "push"] },
    { repositories: ["**"], users: ["admin"], actions: ["*"] },
  ],
  catalog: { users: ["admin"] },
});
const handler = createTokenHandler({ service: "r.example", issuer: "r.example-auth", realm: "docker-dedup token service", users: USERS, policy: POLICY, key: KEY });
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

function get(query: string, authorization?: string): Promise<Awaited<ReturnType<typeof handler>>> {
  return handler({ method: "GET", query: new URLSearchParams(query), ...(authorization === undefined ? {} : { authorization }), now: NOW });
}

function post(form: Record<string, string>, extra: Partial<TokenRequest> = {}) {
  return handler({ method: "POST", query: new URLSearchParams(), contentType: "application/x-www-form-urlencoded; charset=utf-8", body: new URLSearchParams(form).toString(), now: NOW, ...extra });
}

/** The access a token grants, verified as the registry would. */
function accessOf(token: unknown) {
  assert.equal(typeof token, "string");
  const verified = verifyToken(token as string, { issuer: "r.example-auth", service: "r.example", keys: [trustedKeyOf(KEY)], now: NOW });
  assert.ok(verified.ok, verified.ok ? "" : verified.message);
  return { subject: verified.subject, access: verified.access };
}

test("docker login: Basic credentials, account and offline_token, no scope", async () => {
  const res = await get("account=alice&client_id=docker&offline_token=true&service=r.example", basic("alice", "alice:pw"));
  assert.equal(res.status, 200);
  assert.equal(res.headers["Content-Type"], "application/json; charset=utf-8");
  assert.equal(res.headers["Cache-Control"], "no-store");
  assert.equal(res.body.token, res.body.access_token);
  assert.equal(res.body.expires_in, 300);
  assert.equal(res.body.issued_at, "2025-01-01T08:30:00.000Z");
  assert.equal(res.body.refresh_token, undefined, "no refresh token: docker would then use the OAuth2 refresh grant");
  assert.equal(res.subject, "alice");
  assert.deepEqual(accessOf(res.body.token), { subject: "alice", access: [] });
});

test("a scoped call gets the intersection with the policy", async () => {
  const res = await get("service=r.example&scope=repository:team/app:pull,push,delete&scope=repository:public/x:pull", basic("alice", "alice:pw"));
  assert.equal(res.status, 200);
  assert.deepEqual(accessOf(res.body.token).access, [
    { type: "repository", name: "team/app", actions: ["pull", "push"] },
    { type: "repository", name: "public/x", actions: ["pull"] },
  ]);
});

test("a denied or unknown scope yields empty actions, not an error", async () => {
  const res = await get("scope=repository:secret/x:pull,push&scope=registry:catalog:*&scope=plugin:foo:pull", basic("alice", "alice:pw"));
  assert.equal(res.status, 200);
  assert.deepEqual(accessOf(res.body.token).access, [
    { type: "repository", name: "secret/x", actions: [] },
    { type: "registry", name: "catalog", actions: [] },
    { type: "plugin", name: "foo", actions: [] },
  ]);
  const admin = await get("scope=registry:catalog:*", basic("admin", "admin-pw"));
  assert.deepEqual(accessOf(admin.body.token).access, [{ type: "registry", name: "catalog", actions: ["*"] }]);
});

test("anonymous requests get the anonymous policy's access", async () => {
  const res = await get("service=r.example&scope=repository:public/x:pull,push repository:team/app:pull");
  assert.equal(res.status, 200);
  assert.equal(res.subject, "");
  assert.deepEqual(accessOf(res.body.token), {
    subject: "",
    access: [
      { type: "repository", name: "public/x", actions: ["pull"] },
      { type: "repository", name: "team/app", actions: [] },
    ],
  });
});

test("a bad password is 401 with a Basic challenge", async () => {
  for (const authorization of [basic("alice", "wrong"), basic("mallory", "alice:pw"), "Basic !!", "Bearer some.token.here"]) {
    const res = await get("service=r.example&scope=repository:team/app:pull", authorization);
    assert.equal(res.status, 401, authorization);
    assert.equal(res.headers["WWW-Authenticate"], 'Basic realm="docker-dedup token service"');
    assert.equal(res.body.error, "invalid_client");
    assert.equal(typeof res.body.details, "string", "docker shows `details`");
    assert.equal(res.body.token, undefined);
  }
});

test("garbage scopes, another service or a mismatched account are 400", async () => {
  const cases: [string, string][] = [
    ["scope=garbage", "invalid_scope"],
    ["scope=repository:a:pull&scope=repository::pull", "invalid_scope"],
    ["service=other.example", "invalid_request"],
    ["account=bob", "invalid_request"],
  ];
  for (const [query, error] of cases) {
    const res = await get(query, basic("alice", "alice:pw"));
    assert.equal(res.status, 400, query);
    assert.equal(res.body.error, error, query);
  }
});

test("OAuth2 POST with the password grant, as containerd sends it", async () => {
  const res = await post({ grant_type: "password", username: "alice", password: "alice:pw", service: "r.example", client_id: "containerd-client", scope: "repository:team/app:pull,push repository:secret/x:pull", access_type: "offline" });
  assert.equal(res.status, 200);
  assert.equal(res.body.scope, "repository:team/app:pull,push", "the granted scopes, denied ones left out");
  assert.equal(res.body.expires_in, 300);
  assert.equal(res.body.refresh_token, undefined);
  assert.deepEqual(accessOf(res.body.access_token).access, [
    { type: "repository", name: "team/app", actions: ["pull", "push"] },
    { type: "repository", name: "secret/x", actions: [] },
  ]);
});

test("OAuth2 POST refusals", async () => {
  const cases: [Partial<TokenRequest> | Record<string, string>, number, string][] = [
    [{ grant_type: "password", username: "alice", password: "wrong", service: "r.example" }, 400, "invalid_grant"],
    [{ grant_type: "password", username: "alice", service: "r.example" }, 400, "invalid_request"],
    [{ grant_type: "refresh_token", refresh_token: "x", service: "r.example" }, 400, "unsupported_grant_type"],
    [{ service: "r.example" }, 400, "unsupported_grant_type"],
    [{ grant_type: "password", username: "alice", password: "alice:pw", scope: "bad scope" }, 400, "invalid_scope"],
  ];
  for (const [form, status, error] of cases) {
    const res = await post(form as Record<string, string>);
    assert.equal(res.status, status, JSON.stringify(form));
    assert.equal(res.body.error, error, JSON.stringify(form));
  }
  const json = await post({}, { contentType: "application/json", body: '{"grant_type":"password"}' });
  assert.equal(json.status, 400);
  const put = await handler({ method: "PUT", query: new URLSearchParams() });
  assert.equal(put.status, 405);
  assert.equal(put.headers.Allow, "GET, POST");
});

test("the handler refuses a bad configuration", () => {
  const base = { service: "r", issuer: "i", realm: "x", users: USERS, policy: POLICY, key: KEY };
  for (const ttlSeconds of [0, 59, 1.5, 86_401]) assert.throws(() => createTokenHandler({ ...base, ttlSeconds }), AuthConfigError);
  assert.throws(() => createTokenHandler({ ...base, service: "" }), /auth\.token\.service/);
  assert.throws(() => createTokenHandler({ ...base, realm: "a\r\nb" }), /auth\.token\.realm/);
  assert.doesNotThrow(() => createTokenHandler({ ...base, ttlSeconds: 60 }));
});
