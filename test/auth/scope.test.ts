import assert from "node:assert/strict";
import { test } from "node:test";
import {
  challengeScopes,
  formatScope,
  grants,
  MAX_SCOPES,
  parseScope,
  parseScopeParams,
  requiredAccess,
  ScopeError,
  type RouteForAccess,
} from "../../src/auth/scope.js";
import { ALLOWED_METHODS, matchRoute, type Route } from "../../src/registry/routes.js";

test("parses scopes, including names with a registry host and port", () => {
  assert.deepEqual(parseScope("repository:samalba/my-app:pull,push"), { type: "repository", name: "samalba/my-app", actions: ["pull", "push"] });
  assert.deepEqual(parseScope("registry:catalog:*"), { type: "registry", name: "catalog", actions: ["*"] });
  assert.deepEqual(parseScope("repository:localhost:5000/team/app:pull"), { type: "repository", name: "localhost:5000/team/app", actions: ["pull"] });
  assert.deepEqual(parseScope("repository(plugin):vieux/sshfs:pull"), { type: "repository", name: "vieux/sshfs", actions: ["pull"] }, "the deprecated class is dropped");
  assert.deepEqual(parseScope("repository:a:"), { type: "repository", name: "a", actions: [] });
  assert.deepEqual(parseScope("repository:a:pull,pull"), { type: "repository", name: "a", actions: ["pull"] });
});

test("refuses garbage scopes with a ScopeError", () => {
  const garbage = [
    "",
    "repository",
    "repository:a",
    ":a:pull",
    "repository::pull",
    "Repository:a:pull",
    "repo sitory:a:pull",
    "repository(:a:pull",
    "repository(a)(b):a:pull",
    "repository:a b:pull",
    "repository:a\u0000:pull",
    "repository:a\"b:pull",
    "repository:h:1:2/a:pull",
    "repository:a:pull,PUSH",
    "repository:a:pull;push",
    "repository:a:pu-ll",
    "repository:ä:pull",
    `repository:${"a".repeat(2000)}:pull`,
  ];
  for (const text of garbage) assert.throws(() => parseScope(text), ScopeError, JSON.stringify(text.slice(0, 40)));
});

test("scope parameters: repeated, space-separated, merged, and bounded", () => {
  assert.deepEqual(parseScopeParams([]), []);
  assert.deepEqual(parseScopeParams(["repository:a:push", "repository:a:pull repository:b:pull", "  ", "registry:catalog:*"]), [
    { type: "repository", name: "a", actions: ["pull", "push"] },
    { type: "repository", name: "b", actions: ["pull"] },
    { type: "registry", name: "catalog", actions: ["*"] },
  ]);
  assert.throws(() => parseScopeParams(["repository:a:pull", "nonsense"]), ScopeError);
  const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r${i}:pull`);
  assert.throws(() => parseScopeParams(many), /more than 64 scopes/);
  assert.equal(parseScopeParams(many.slice(0, MAX_SCOPES)).length, MAX_SCOPES);
});

test("formatScope is parseScope's inverse", () => {
  for (const text of ["repository:team/app:pull,push", "registry:catalog:*", "repository:localhost:5000/a:pull", "repository:a:"]) {
    assert.equal(formatScope(parseScope(text)), text);
  }
});

test("grants: * covers every action; type and name must match exactly", () => {
  const access = [
    { type: "repository", name: "a", actions: ["pull"] },
    { type: "repository", name: "b", actions: ["*"] },
  ];
  assert.ok(grants(access, "repository", "a", "pull"));
  assert.ok(!grants(access, "repository", "a", "push"));
  assert.ok(grants(access, "repository", "b", "delete"));
  assert.ok(!grants(access, "repository", "a/b", "pull"));
  assert.ok(!grants(access, "registry", "a", "pull"));
});

const repo = (name: string, ...actions: string[]) => ({ type: "repository", name, actions });

test("each route kind and method maps to the scopes distribution asks for", () => {
  const q = new URLSearchParams();
  const table: [RouteForAccess, string, ReturnType<typeof repo>[] | "none"][] = [
    [{ kind: "base" }, "GET", []],
    [{ kind: "base" }, "HEAD", []],
    [{ kind: "catalog" }, "GET", [{ type: "registry", name: "catalog", actions: ["*"] }]],
    [{ kind: "catalog" }, "HEAD", [{ type: "registry", name: "catalog", actions: ["*"] }]],
    [{ kind: "blob", name: "t/a" }, "GET", [repo("t/a", "pull")]],
    [{ kind: "blob", name: "t/a" }, "HEAD", [repo("t/a", "pull")]],
    [{ kind: "blob", name: "t/a" }, "DELETE", [repo("t/a", "delete")]],
    [{ kind: "uploads", name: "t/a" }, "POST", [repo("t/a", "pull", "push")]],
    [{ kind: "upload", name: "t/a" }, "GET", [repo("t/a", "pull", "push")]],
    [{ kind: "upload", name: "t/a" }, "PATCH", [repo("t/a", "pull", "push")]],
    [{ kind: "upload", name: "t/a" }, "PUT", [repo("t/a", "pull", "push")]],
    [{ kind: "upload", name: "t/a" }, "DELETE", [repo("t/a", "pull", "push")]],
    [{ kind: "manifest", name: "t/a" }, "GET", [repo("t/a", "pull")]],
    [{ kind: "manifest", name: "t/a" }, "HEAD", [repo("t/a", "pull")]],
    [{ kind: "manifest", name: "t/a" }, "PUT", [repo("t/a", "pull", "push")]],
    [{ kind: "manifest", name: "t/a" }, "DELETE", [repo("t/a", "delete")]],
    [{ kind: "tags", name: "t/a" }, "GET", [repo("t/a", "pull")]],
    [{ kind: "tags", name: "t/a" }, "HEAD", [repo("t/a", "pull")]],
    [{ kind: "referrers", name: "t/a" }, "GET", [repo("t/a", "pull")]],
    [{ kind: "referrers", name: "t/a" }, "HEAD", [repo("t/a", "pull")]],
    [{ kind: "blob", name: "t/a" }, "PUT", "none"],
    [{ kind: "catalog" }, "DELETE", "none"],
    [{ kind: "base" }, "POST", "none"],
    [{ kind: "blob", name: "t/a" }, "constructor", "none"],
    [{ kind: "manifest", name: "t/a" }, "get", "none"],
  ];
  for (const [route, method, scopes] of table) {
    const need = requiredAccess(route, method, q);
    if (scopes === "none") assert.equal(need, undefined, `${route.kind} ${method}`);
    else assert.deepEqual(need, { scopes }, `${route.kind} ${method}`);
  }
});

test("every method every registry route answers has an entry, and Route fits RouteForAccess", () => {
  const samples: Record<Route["kind"], string> = {
    base: "/v2/",
    catalog: "/v2/_catalog",
    blob: `/v2/t/a/blobs/sha256:${"0".repeat(64)}`,
    uploads: "/v2/t/a/blobs/uploads/",
    upload: "/v2/t/a/blobs/uploads/some-id",
    manifest: "/v2/t/a/manifests/latest",
    tags: "/v2/t/a/tags/list",
    referrers: `/v2/t/a/referrers/sha256:${"0".repeat(64)}`,
  };
  for (const [kind, methods] of Object.entries(ALLOWED_METHODS) as [Route["kind"], readonly string[]][]) {
    const route = matchRoute(samples[kind]);
    assert.ok(route !== undefined && route !== "invalid" && route.kind === kind, kind);
    const forAccess: RouteForAccess = route; // compile-time: the registry's Route is accepted as is
    for (const method of methods) {
      const need = requiredAccess(forAccess, method);
      assert.ok(need !== undefined, `${kind} ${method} has an entry`);
      if (kind !== "base") assert.ok(need.scopes.length > 0 && need.scopes.every((scope) => scope.actions.length > 0), `${kind} ${method} needs something`);
    }
  }
});

test("a cross-repository mount needs pull on its source, named apart", () => {
  const route: RouteForAccess = { kind: "uploads", name: "team/b" };
  const mount = requiredAccess(route, "POST", new URLSearchParams({ mount: `sha256:${"1".repeat(64)}`, from: "team/a" }));
  assert.deepEqual(mount, { scopes: [repo("team/b", "pull", "push")], mountFrom: repo("team/a", "pull") });
  assert.deepEqual(challengeScopes(mount!), [repo("team/b", "pull", "push"), repo("team/a", "pull")]);
  // `from` without `mount` mounts nothing; a mount from itself needs nothing more.
  assert.deepEqual(requiredAccess(route, "POST", new URLSearchParams({ from: "team/a" })), { scopes: [repo("team/b", "pull", "push")] });
  assert.deepEqual(requiredAccess(route, "POST", new URLSearchParams({ mount: "sha256:x", from: "team/b" })), { scopes: [repo("team/b", "pull", "push")] });
  assert.deepEqual(requiredAccess(route, "POST", new URLSearchParams({ mount: "sha256:x", from: "" })), { scopes: [repo("team/b", "pull", "push")] });
});
