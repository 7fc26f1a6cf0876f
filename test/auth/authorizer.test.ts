import assert from "node:assert/strict";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { Authorizer } from "../../src/auth/authorizer.js";
import { AuthConfigError, AuthError } from "../../src/auth/errors.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Policy } from "../../src/auth/policy.js";
import { requiredAccess, type RequiredAccess } from "../../src/auth/scope.js";
import { issueToken } from "../../src/auth/token.js";
import { ecKey, trustedKeyOf } from "./fixtures.js";

const NOW = Date.UTC(2025, 0, 1);
const USERS = Htpasswd.parse(`alice:${bcrypt.hashSync("alice-pw", 4)}\nadmin:${bcrypt.hashSync("admin-pw", 4)}`);
const POLICY = Policy.parse({
  anonymousPull: ["public/**"],
  rules: [
    { repositories: ["team/*"], users: ["alice"], actions: ["pull", "push"] },
    { repositories: ["**"], users: ["admin"], actions: ["*"] },
  ],
  catalog: { users: ["admin", "alice"] },
});
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const need = (kind: string, method: string, name = "team/app", query?: Record<string, string>): RequiredAccess =>
  requiredAccess((kind === "base" || kind === "catalog" ? { kind } : { kind, name }) as never, method, new URLSearchParams(query))!;

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuthError, String(error));
    return error;
  }
  assert.fail("expected a refusal");
}

test("basic mode: good credentials within the policy pass", async () => {
  const auth = new Authorizer({ mode: "basic", realm: "docker-dedup", users: USERS, policy: POLICY });
  const alice = await auth.authorize(basic("alice", "alice-pw"), need("manifest", "PUT"));
  assert.equal(alice.user, "alice");
  assert.equal((await auth.authorize(basic("alice", "alice-pw"), need("base", "GET"))).user, "alice");
  const anonymous = await auth.authorize(undefined, need("blob", "GET", "public/x"));
  assert.equal(anonymous.user, undefined);
});

test("basic mode: anonymous gets 401 with a Basic challenge; a known user gets 403", async () => {
  const auth = new Authorizer({ mode: "basic", realm: "docker-dedup", users: USERS, policy: POLICY });
  for (const [header, kind] of [
    [undefined, "base"],
    [undefined, "manifest"],
    [basic("alice", "wrong"), "manifest"],
    [basic("nobody", "alice-pw"), "blob"],
    ["Bearer abc", "manifest"],
    ["Basic !!", "manifest"],
  ] as const) {
    const error = await refusal(auth.authorize(header, need(kind, "GET", "team/app")));
    assert.equal(error.status, 401, `${header} ${kind}`);
    assert.equal(error.code, "UNAUTHORIZED");
    assert.equal(error.headers["WWW-Authenticate"], 'Basic realm="docker-dedup"');
  }
  const denied = await refusal(auth.authorize(basic("alice", "alice-pw"), need("manifest", "DELETE")));
  assert.equal(denied.status, 403);
  assert.equal(denied.code, "DENIED");
  assert.deepEqual(denied.detail, { access: [{ type: "repository", name: "team/app", action: "delete" }] });
  assert.equal((await refusal(auth.authorize(undefined, need("uploads", "POST", "public/x")))).status, 401, "anonymous may pull public/**, never push");
  assert.equal((await refusal(auth.authorize(basic("alice", "wrong"), need("blob", "GET", "public/x")))).status, 401, "a wrong password is refused even where anonymous would pass");
});

test("basic mode: mounts and catalog", async () => {
  const auth = new Authorizer({ mode: "basic", realm: "r", users: USERS, policy: POLICY });
  const mount = (from: string) => need("uploads", "POST", "team/app", { mount: "sha256:x", from });
  assert.equal((await auth.authorize(basic("alice", "alice-pw"), mount("team/other"))).mayMount, true);
  assert.equal((await auth.authorize(basic("alice", "alice-pw"), mount("secret/x"))).mayMount, false, "no pull on the source: a plain upload instead");
  const listing = await auth.authorize(basic("alice", "alice-pw"), need("catalog", "GET"));
  assert.deepEqual(["public/a", "secret/x", "team/app"].filter(listing.mayList), ["public/a", "team/app"]);
  assert.equal((await refusal(auth.authorize(undefined, need("catalog", "GET")))).status, 401);
});

const KEY = ecKey();
const TOKEN_CONFIG = { mode: "token", realm: "https://r.example/auth/token", service: "r.example", issuer: "r.example-auth", keys: [trustedKeyOf(KEY)] } as const;
const token = (access: { type: string; name: string; actions: string[] }[], overrides: Partial<Parameters<typeof issueToken>[0]> = {}) =>
  `Bearer ${issueToken({ issuer: "r.example-auth", service: "r.example", subject: "alice", access, ttlSeconds: 300, key: KEY, now: NOW, ...overrides }).token}`;

test("token mode: the token's access decides", async () => {
  const auth = new Authorizer(TOKEN_CONFIG);
  const pushing = token([{ type: "repository", name: "team/app", actions: ["pull", "push"] }]);
  assert.equal((await auth.authorize(pushing, need("manifest", "PUT"), NOW)).user, "alice");
  assert.equal((await auth.authorize(pushing, need("base", "GET"), NOW)).user, "alice");
  const anonymous = token([], { subject: "" });
  assert.equal((await auth.authorize(anonymous, need("base", "GET"), NOW)).user, undefined, "an anonymous token is a valid credential for /v2/");
  const all = token([{ type: "repository", name: "team/app", actions: ["*"] }]);
  await auth.authorize(all, need("blob", "DELETE"), NOW);
  const catalog = token([{ type: "registry", name: "catalog", actions: ["*"] }]);
  const listing = await auth.authorize(catalog, need("catalog", "GET"), NOW);
  assert.equal(listing.mayList("anything"), true, "without a policy the catalog is not filtered");
});

test("token mode: 401 with a Bearer challenge naming what is needed and why", async () => {
  const auth = new Authorizer(TOKEN_CONFIG);
  const realm = 'Bearer realm="https://r.example/auth/token",service="r.example"';
  const cases: [string | undefined, RequiredAccess, string][] = [
    [undefined, need("base", "GET"), realm],
    [undefined, need("manifest", "PUT"), `${realm},scope="repository:team/app:pull,push"`],
    [basic("alice", "alice-pw"), need("blob", "GET"), `${realm},scope="repository:team/app:pull"`],
    ["Bearer not.a.jwt", need("blob", "GET"), `${realm},scope="repository:team/app:pull",error="invalid_token"`],
    ["Bearer", need("blob", "GET"), `${realm},scope="repository:team/app:pull",error="invalid_request"`],
    [token([{ type: "repository", name: "team/app", actions: ["pull"] }]), need("manifest", "PUT"), `${realm},scope="repository:team/app:pull,push",error="insufficient_scope"`],
    [token([{ type: "repository", name: "team/app", actions: ["pull"] }], { service: "elsewhere" }), need("blob", "GET"), `${realm},scope="repository:team/app:pull",error="invalid_token"`],
    [token([{ type: "repository", name: "team/app", actions: ["pull"] }], { now: NOW - 3600_000 }), need("blob", "GET"), `${realm},scope="repository:team/app:pull",error="invalid_token"`],
    [
      token([{ type: "repository", name: "team/app", actions: ["pull", "push"] }]),
      need("uploads", "POST", "team/app", { mount: "sha256:x", from: "team/base" }),
      "ok",
    ],
  ];
  for (const [header, required, expected] of cases) {
    if (expected === "ok") {
      const result = await auth.authorize(header, required, NOW);
      assert.equal(result.mayMount, false, "no pull on the mount source in the token");
      continue;
    }
    const error = await refusal(auth.authorize(header, required, NOW));
    assert.equal(error.status, 401, String(header));
    assert.equal(error.headers["WWW-Authenticate"], expected, String(header));
  }
  const mountScope = await refusal(auth.authorize(undefined, need("uploads", "POST", "team/app", { mount: "sha256:x", from: "team/base" }), NOW));
  assert.equal(mountScope.headers["WWW-Authenticate"], `${realm},scope="repository:team/app:pull,push repository:team/base:pull"`, "the challenge names the mount source too");
  const expired = await refusal(auth.authorize(token([], { now: NOW - 3600_000 }), need("base", "GET"), NOW));
  assert.match(expired.message, /invalid token: expired at/);
});

test("token mode with the policy filters the catalog by the subject", async () => {
  const auth = new Authorizer({ ...TOKEN_CONFIG, policy: POLICY });
  const listing = await auth.authorize(token([{ type: "registry", name: "catalog", actions: ["*"] }]), need("catalog", "GET"), NOW);
  assert.deepEqual(["public/a", "secret/x", "team/app"].filter(listing.mayList), ["public/a", "team/app"]);
});

test("bad configurations are refused when the Authorizer is made", () => {
  const bad: [object, string][] = [
    [{ ...TOKEN_CONFIG, realm: "/auth/token" }, "auth.realm"],
    [{ ...TOKEN_CONFIG, realm: "ftp://r/token" }, "auth.realm"],
    [{ ...TOKEN_CONFIG, realm: 'https://r/"x' }, "auth.realm"],
    [{ ...TOKEN_CONFIG, service: "a\nb" }, "auth.service"],
    [{ ...TOKEN_CONFIG, keys: [] }, "auth.keys"],
    [{ ...TOKEN_CONFIG, issuer: "" }, "auth.issuer"],
    [{ mode: "basic", realm: "", users: USERS, policy: POLICY }, "auth.realm"],
  ];
  for (const [config, where] of bad) {
    assert.throws(() => new Authorizer(config as never), (error: unknown) => error instanceof AuthConfigError && error.where === where, where);
  }
});
