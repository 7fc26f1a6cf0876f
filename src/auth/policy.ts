import { AuthConfigError } from "./errors.js";
import { CATALOG, isAction, REPOSITORY_ACTIONS, type Action, type ResourceScope } from "./scope.js";

/**
 * Who may do what to which repositories. Rules only grant (there is no deny), so the answer is
 * the union of every rule that matches; nothing matches means nothing is allowed.
 *
 * ```json
 * {
 *   "anonymousPull": ["public/**"],
 *   "rules": [
 *     { "repositories": ["team/*"], "users": ["alice", "bob"], "actions": ["pull", "push"] },
 *     { "repositories": ["library/**", "tools"], "users": ["*"], "actions": ["pull"] },
 *     { "repositories": ["**"], "users": ["admin"], "actions": ["*"] }
 *   ],
 *   "catalog": { "users": ["admin"] }
 * }
 * ```
 *
 * - `users`: htpasswd user names (or token subjects); `*` is any authenticated user.
 * - `actions`: `pull`, `push`, `delete`, or `*` for all three. A push also needs pull (as in
 *   distribution), so a pushing rule should list both.
 * - `anonymousPull`: repositories anyone may pull without credentials. Anonymous users can only
 *   ever pull: the policy has no way to grant them more. What anonymous users may do, every
 *   authenticated user may do too, so logging in never loses access.
 * - `catalog`: who may call /v2/_catalog (`registry:catalog:*`); the list they get holds only
 *   the repositories they may pull (`filterPullable`). Nobody by default; `anonymous: true` opens
 *   it to everyone.
 *
 * Repository patterns match whole repository names, component by component (components are
 * separated by `/`):
 *
 * | pattern        | matches                         | does not match            |
 * |----------------|---------------------------------|---------------------------|
 * | `team/app`     | `team/app`                      | `team/app2`, `team`       |
 * | `team/*`       | `team/a`, `team/b-c`            | `team/a/b`, `teamx/a`, `team` |
 * | `team/app-*`   | `team/app-x`, `team/app-x.y`    | `team/app`, `team/app-x/y`|
 * | `team/**`      | `team/a`, `team/a/b/c`          | `team`, `teamx/a`         |
 * | `*`            | `ubuntu` (one component)        | `library/ubuntu`          |
 * | `**`           | every name                      |                           |
 * | `a/**\/b`       | `a/x/b`, `a/x/y/b`              | `a/b`                     |
 *
 * `*` stands for any characters within one component (never a `/`); `**` must be a whole
 * component and stands for one or more whole components. Other characters are literal and must
 * be ones a repository name may hold (lowercase letters, digits, `.`, `_`, `-`).
 */
/** The shape `Policy.parse` checks (a single string is accepted where a list is expected). */
export interface PolicyConfig {
  anonymousPull?: string[];
  rules?: { repositories: string[]; users: string[]; actions: string[] }[];
  catalog?: { users?: string[]; anonymous?: boolean };
}

interface Rule {
  patterns: RegExp[];
  /** undefined: any authenticated user. */
  users: ReadonlySet<string> | undefined;
  actions: readonly Action[];
}

export class Policy {
  readonly #rules: readonly Rule[];
  readonly #anonymousPull: readonly RegExp[];
  readonly #catalogUsers: ReadonlySet<string>;
  readonly #catalogAnyUser: boolean;
  readonly #catalogAnonymous: boolean;

  private constructor(rules: Rule[], anonymousPull: RegExp[], catalogUsers: string[], catalogAnonymous: boolean) {
    this.#rules = rules;
    this.#anonymousPull = anonymousPull;
    this.#catalogUsers = new Set(catalogUsers.filter((user) => user !== "*"));
    this.#catalogAnyUser = catalogUsers.includes("*");
    this.#catalogAnonymous = catalogAnonymous;
  }

  /** Checks a parsed config file (JSON/YAML); throws AuthConfigError naming the bad field. */
  static parse(input: unknown, where = "policy"): Policy {
    const config = object(input, where);
    onlyKeys(config, ["anonymousPull", "rules", "catalog"], where);
    const anonymousPull = strings(config.anonymousPull ?? [], `${where}.anonymousPull`).map((pattern, i) => compilePattern(pattern, `${where}.anonymousPull[${i}]`));
    const rules = array(config.rules ?? [], `${where}.rules`).map((raw, i) => parseRule(raw, `${where}.rules[${i}]`));
    const catalog = object(config.catalog ?? {}, `${where}.catalog`);
    onlyKeys(catalog, ["users", "anonymous"], `${where}.catalog`);
    const catalogUsers = strings(catalog.users ?? [], `${where}.catalog.users`).map((user, i) => checkUser(user, `${where}.catalog.users[${i}]`));
    if (catalog.anonymous !== undefined && typeof catalog.anonymous !== "boolean") throw new AuthConfigError(`${where}.catalog.anonymous`, "must be true or false");
    return new Policy(rules, anonymousPull, catalogUsers, catalog.anonymous === true);
  }

  /**
   * The requested actions `user` may do on `repository` (undefined or "" is anonymous). `*` in
   * `requested` asks for every action; actions this registry does not know are never granted.
   */
  allowedActions(user: string | undefined, repository: string, requested: readonly string[]): Action[] {
    const wanted = new Set<Action>(requested.includes("*") ? REPOSITORY_ACTIONS : requested.filter(isAction));
    const allowed = new Set<Action>();
    if (this.#anonymousPull.some((pattern) => pattern.test(repository))) allowed.add("pull");
    if (user !== undefined && user !== "") {
      for (const rule of this.#rules) {
        if (rule.users !== undefined && !rule.users.has(user)) continue;
        if (!rule.patterns.some((pattern) => pattern.test(repository))) continue;
        for (const action of rule.actions) allowed.add(action);
      }
    }
    return REPOSITORY_ACTIONS.filter((action) => wanted.has(action) && allowed.has(action));
  }

  /** Whether `user` may call /v2/_catalog. */
  mayListCatalog(user: string | undefined): boolean {
    if (this.#catalogAnonymous) return true;
    if (user === undefined || user === "") return false;
    return this.#catalogAnyUser || this.#catalogUsers.has(user);
  }

  /** The names (of a catalog page) that `user` may pull, in their order. */
  filterPullable(user: string | undefined, names: readonly string[]): string[] {
    return names.filter((name) => this.allowedActions(user, name, ["pull"]).length > 0);
  }

  /**
   * A requested scope cut down to what `user` may do: the token endpoint's intersection. Unknown
   * resource types and denied actions come back with fewer (or no) actions, never an error, as
   * the token spec asks.
   */
  grant(user: string | undefined, scope: ResourceScope): ResourceScope {
    let actions: string[] = [];
    if (scope.type === "repository") actions = this.allowedActions(user, scope.name, scope.actions);
    else if (scope.type === CATALOG.type && scope.name === CATALOG.name && scope.actions.includes("*") && this.mayListCatalog(user)) actions = ["*"];
    return { type: scope.type, name: scope.name, actions };
  }
}

const COMPONENT_PATTERN = /^[a-z0-9._*-]+$/;

/** A repository pattern as a RegExp over the whole name; see the table at the top of this file. */
export function compilePattern(pattern: string, where = "pattern"): RegExp {
  if (pattern === "") throw new AuthConfigError(where, "empty repository pattern");
  const parts = pattern.split("/").map((component) => {
    if (component === "**") return "[^/]+(?:/[^/]+)*";
    if (component === "") throw new AuthConfigError(where, `empty component in repository pattern ${JSON.stringify(pattern)}`);
    if (!COMPONENT_PATTERN.test(component)) throw new AuthConfigError(where, `repository pattern ${JSON.stringify(pattern)} may only hold a-z 0-9 . _ - * and /`);
    if (component.includes("**")) throw new AuthConfigError(where, `in ${JSON.stringify(pattern)}, ** must be a whole component (like team/**)`);
    return component
      .split("*")
      .map((literal) => literal.replace(/[.]/g, "\\."))
      .join("[^/]*");
  });
  return new RegExp(`^${parts.join("/")}$`);
}

function parseRule(raw: unknown, where: string): Rule {
  const rule = object(raw, where);
  onlyKeys(rule, ["repositories", "users", "actions"], where);
  const patterns = nonEmpty(strings(rule.repositories, `${where}.repositories`), `${where}.repositories`).map((pattern, i) => compilePattern(pattern, `${where}.repositories[${i}]`));
  const users = nonEmpty(strings(rule.users, `${where}.users`), `${where}.users`).map((user, i) => checkUser(user, `${where}.users[${i}]`));
  const actionNames = nonEmpty(strings(rule.actions, `${where}.actions`), `${where}.actions`);
  const actions = new Set<Action>();
  actionNames.forEach((action, i) => {
    if (action === "*") REPOSITORY_ACTIONS.forEach((each) => actions.add(each));
    else if (isAction(action)) actions.add(action);
    else throw new AuthConfigError(`${where}.actions[${i}]`, `unknown action ${JSON.stringify(action)}: use pull, push, delete or *`);
  });
  return { patterns, users: users.includes("*") ? undefined : new Set(users), actions: [...actions] };
}

/** A user name as htpasswd can hold it: not empty, no `:` and no control characters. */
function checkUser(user: string, where: string): string {
  if (user === "" || user.includes(":") || /[\u0000-\u001f\u007f]/.test(user)) throw new AuthConfigError(where, `invalid user name ${JSON.stringify(user)}`);
  return user;
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new AuthConfigError(where, "must be an object");
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new AuthConfigError(where, "must be a list");
  return value;
}

function strings(value: unknown, where: string): string[] {
  // A single string is taken as a one-item list: `"users": "*"` is what people write.
  const list = typeof value === "string" ? [value] : array(value, where);
  list.forEach((item, i) => {
    if (typeof item !== "string") throw new AuthConfigError(`${where}[${i}]`, "must be a string");
  });
  return list as string[];
}

function nonEmpty<T>(list: T[], where: string): T[] {
  if (list.length === 0) throw new AuthConfigError(where, "must not be empty");
  return list;
}

function onlyKeys(value: Record<string, unknown>, known: string[], where: string): void {
  for (const key of Object.keys(value)) {
    // A misspelt key would silently grant nothing (or, for anonymousPull, more than meant).
    if (!known.includes(key)) throw new AuthConfigError(`${where}.${key}`, `unknown key; expected one of ${known.join(", ")}`);
  }
}
