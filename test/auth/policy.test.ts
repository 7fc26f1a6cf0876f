import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthConfigError } from "../../src/auth/errors.js";
import { compilePattern, Policy } from "../../src/auth/policy.js";

function matches(pattern: string, name: string): boolean {
  return compilePattern(pattern).test(name);
}

test("* stays inside one component; ** spans one or more whole components", () => {
  const table: [string, string[], string[]][] = [
    ["team/app", ["team/app"], ["team/app2", "team", "team/app/x", "xteam/app"]],
    ["team/*", ["team/a", "team/b-c", "team/a.b_c"], ["team/a/b", "teamx/a", "team", "other/team/a"]],
    ["team/app-*", ["team/app-x", "team/app-x.y"], ["team/app", "team/app-x/y", "team/xapp-x"]],
    ["team/**", ["team/a", "team/a/b/c"], ["team", "teamx/a", "x/team/a"]],
    ["*", ["ubuntu", "a.b"], ["library/ubuntu"]],
    ["**", ["ubuntu", "library/ubuntu", "a/b/c/d"], []],
    ["a/**/b", ["a/x/b", "a/x/y/b"], ["a/b", "a/x/b/c", "a/x/c"]],
    ["**/app", ["x/app", "x/y/app"], ["app", "x/app2"]],
    ["*/*", ["a/b"], ["a", "a/b/c"]],
    // `.` is literal, not "any character".
    ["a.b", ["a.b"], ["axb"]],
  ];
  for (const [pattern, yes, no] of table) {
    for (const name of yes) assert.ok(matches(pattern, name), `${pattern} matches ${name}`);
    for (const name of no) assert.ok(!matches(pattern, name), `${pattern} does not match ${name}`);
  }
});

test("bad patterns are refused with the field they are in", () => {
  for (const pattern of ["", "team//a", "/team", "team/", "Team/a", "team/a**", "team/**x", "team/a b", "team/[ab]", "team/a?", "***"]) {
    assert.throws(() => compilePattern(pattern, "rules[0].repositories[0]"), (error: unknown) => error instanceof AuthConfigError && error.where === "rules[0].repositories[0]", pattern);
  }
});

const POLICY = Policy.parse({
  anonymousPull: ["public/**"],
  rules: [
    { repositories: ["team/*"], users: ["alice", "bob"], actions: ["pull", "push"] },
    { repositories: ["library/**", "tools"], users: ["*"], actions: ["pull"] },
    { repositories: ["**"], users: ["admin"], actions: ["*"] },
    { repositories: "alice/**", users: "alice", actions: ["pull", "push", "delete"] },
  ],
  catalog: { users: ["admin", "bob"] },
});

test("allowedActions is the union of matching rules, intersected with the request", () => {
  assert.deepEqual(POLICY.allowedActions("alice", "team/app", ["pull", "push"]), ["pull", "push"]);
  assert.deepEqual(POLICY.allowedActions("alice", "team/app", ["push", "pull", "delete"]), ["pull", "push"]);
  assert.deepEqual(POLICY.allowedActions("alice", "team/app/sub", ["pull"]), [], "team/* is one level");
  assert.deepEqual(POLICY.allowedActions("alice", "teamx/app", ["pull"]), []);
  assert.deepEqual(POLICY.allowedActions("carol", "team/app", ["pull"]), []);
  assert.deepEqual(POLICY.allowedActions("carol", "library/ubuntu", ["pull", "push"]), ["pull"], "* is any authenticated user");
  assert.deepEqual(POLICY.allowedActions("carol", "tools", ["pull"]), ["pull"]);
  assert.deepEqual(POLICY.allowedActions("admin", "any/thing/at/all", ["*"]), ["pull", "push", "delete"]);
  assert.deepEqual(POLICY.allowedActions("alice", "alice/x", ["*"]), ["pull", "push", "delete"]);
  assert.deepEqual(POLICY.allowedActions("alice", "team/app", ["frobnicate", "pull"]), ["pull"], "unknown actions are never granted");
  assert.deepEqual(POLICY.allowedActions("alice", "team/app", []), []);
});

test("anonymous users may only pull what anonymousPull names, and so may everyone else", () => {
  assert.deepEqual(POLICY.allowedActions(undefined, "public/x", ["pull", "push"]), ["pull"]);
  assert.deepEqual(POLICY.allowedActions("", "public/a/b", ["pull"]), ["pull"], "an empty token subject is anonymous");
  assert.deepEqual(POLICY.allowedActions(undefined, "public", ["pull"]), []);
  assert.deepEqual(POLICY.allowedActions(undefined, "library/ubuntu", ["pull"]), [], "* means authenticated users only");
  assert.deepEqual(POLICY.allowedActions(undefined, "team/app", ["pull"]), []);
  assert.deepEqual(POLICY.allowedActions("carol", "public/x", ["pull"]), ["pull"], "logging in never loses access");
});

test("catalog access and filtering by pull", () => {
  assert.equal(POLICY.mayListCatalog("admin"), true);
  assert.equal(POLICY.mayListCatalog("bob"), true);
  assert.equal(POLICY.mayListCatalog("alice"), false);
  assert.equal(POLICY.mayListCatalog(undefined), false);
  const names = ["alice/x", "library/ubuntu", "public/a", "secret/x", "team/app", "team/app/sub"];
  assert.deepEqual(POLICY.filterPullable("bob", names), ["library/ubuntu", "public/a", "team/app"]);
  assert.deepEqual(POLICY.filterPullable("admin", names), names);
  assert.deepEqual(POLICY.filterPullable(undefined, names), ["public/a"]);

  const open = Policy.parse({ catalog: { users: ["*"] } });
  assert.equal(open.mayListCatalog("anyone"), true);
  assert.equal(open.mayListCatalog(undefined), false);
  assert.equal(Policy.parse({ catalog: { anonymous: true } }).mayListCatalog(undefined), true);
  assert.equal(Policy.parse({}).mayListCatalog("admin"), false, "nobody by default");
});

test("grant intersects a token request's scope; unknown types get no actions", () => {
  assert.deepEqual(POLICY.grant("alice", { type: "repository", name: "team/app", actions: ["pull", "push", "delete"] }), { type: "repository", name: "team/app", actions: ["pull", "push"] });
  assert.deepEqual(POLICY.grant("alice", { type: "repository", name: "secret/x", actions: ["pull"] }), { type: "repository", name: "secret/x", actions: [] });
  assert.deepEqual(POLICY.grant("admin", { type: "registry", name: "catalog", actions: ["*"] }), { type: "registry", name: "catalog", actions: ["*"] });
  assert.deepEqual(POLICY.grant("alice", { type: "registry", name: "catalog", actions: ["*"] }), { type: "registry", name: "catalog", actions: [] });
  assert.deepEqual(POLICY.grant("admin", { type: "registry", name: "catalog", actions: ["pull"] }), { type: "registry", name: "catalog", actions: [] });
  assert.deepEqual(POLICY.grant("admin", { type: "plugin", name: "x", actions: ["pull"] }), { type: "plugin", name: "x", actions: [] });
});

test("Policy.parse refuses what it cannot use, naming the field", () => {
  const bad: [unknown, string][] = [
    [null, "policy"],
    [[], "policy"],
    [{ rule: [] }, "policy.rule"],
    [{ anonymousPull: "public/**", anonymous: {} }, "policy.anonymous"],
    [{ anonymousPull: [3] }, "policy.anonymousPull[0]"],
    [{ rules: {} }, "policy.rules"],
    [{ rules: [{ repositories: [], users: ["a"], actions: ["pull"] }] }, "policy.rules[0].repositories"],
    [{ rules: [{ repositories: ["a"], users: [], actions: ["pull"] }] }, "policy.rules[0].users"],
    [{ rules: [{ repositories: ["a"], users: ["a:b"], actions: ["pull"] }] }, "policy.rules[0].users[0]"],
    [{ rules: [{ repositories: ["a"], users: ["a"], actions: ["read"] }] }, "policy.rules[0].actions[0]"],
    [{ rules: [{ repositories: ["a"], users: ["a"], actions: ["pull"], extra: 1 }] }, "policy.rules[0].extra"],
    [{ rules: [{ repositories: ["A"], users: ["a"], actions: ["pull"] }] }, "policy.rules[0].repositories[0]"],
    [{ catalog: { users: ["a"], anonymous: "yes" } }, "policy.catalog.anonymous"],
  ];
  for (const [input, where] of bad) {
    assert.throws(() => Policy.parse(input), (error: unknown) => error instanceof AuthConfigError && error.where === where, JSON.stringify(input));
  }
});
