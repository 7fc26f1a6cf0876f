/**
 * Docker token scopes (distribution's docs/spec/auth/scope.md) and the scopes each registry
 * request needs.
 *
 *   scope          := resourcescope [ ' ' resourcescope ]*
 *   resourcescope  := resourcetype ":" resourcename ":" action [ ',' action ]*
 *   resourcetype   := /[a-z0-9]+/ [ '(' /[a-z0-9]+/ ')' ]      e.g. repository, repository(plugin), registry
 *   resourcename   := [ hostname[:port] '/' ] component [ '/' component ]*
 *   action         := lowercase letters and '*', possibly none
 *
 * A name may hold one `:` (a port), so the type ends at the first `:` and the actions start
 * after the last one. The `(class)` suffix is deprecated and ignored when authorizing (the spec
 * says `repository` and `repository(plugin)` are equal), so it is parsed and dropped.
 */

/** What a repository scope can grant. `*` in a scope or a token means all of them. */
export const REPOSITORY_ACTIONS = ["pull", "push", "delete"] as const;
export type Action = (typeof REPOSITORY_ACTIONS)[number];

export function isAction(value: string): value is Action {
  return (REPOSITORY_ACTIONS as readonly string[]).includes(value);
}

/** One resource and the actions asked for or granted on it. Actions stay strings: tokens and requests may carry `*` or actions this registry does not know. */
export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

/** The catalog's resource, as distribution names it: `registry:catalog:*`. */
export const CATALOG = { type: "registry", name: "catalog" } as const;

/** A scope string that does not follow the grammar. */
export class ScopeError extends Error {
  readonly scope: string;

  constructor(scope: string, message: string) {
    super(`invalid scope ${JSON.stringify(scope.slice(0, 200))}: ${message}`);
    this.name = "ScopeError";
    this.scope = scope.slice(0, 200);
  }
}

/** Most scopes one request may carry; a push with cross-repository mounts needs a handful. */
export const MAX_SCOPES = 64;
const MAX_SCOPE_LENGTH = 1024;

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/;
// Path components are lowercase, a hostname part may not be; `:` only for a port.
const NAME = /^[A-Za-z0-9._\-/:]+$/;
const ACTION = /^[a-z*]+$/;

/** Parses one resource scope, e.g. `repository:team/app:pull,push`; throws ScopeError. */
export function parseScope(text: string): ResourceScope {
  if (text.length > MAX_SCOPE_LENGTH) throw new ScopeError(text, `longer than ${MAX_SCOPE_LENGTH} characters`);
  const first = text.indexOf(":");
  const last = text.lastIndexOf(":");
  if (first === -1 || first === last) throw new ScopeError(text, "expected type:name:actions");
  const typeText = text.slice(0, first);
  const name = text.slice(first + 1, last);
  const actionsText = text.slice(last + 1);
  const type = TYPE.exec(typeText);
  if (!type) throw new ScopeError(text, `bad resource type ${JSON.stringify(typeText)}`);
  if (name === "" || !NAME.test(name)) throw new ScopeError(text, "bad resource name");
  // More than one `:` inside the name cannot be a host's port.
  if (name.indexOf(":") !== name.lastIndexOf(":")) throw new ScopeError(text, "bad resource name");
  const actions = actionsText === "" ? [] : actionsText.split(",");
  for (const action of actions) {
    if (!ACTION.test(action)) throw new ScopeError(text, `bad action ${JSON.stringify(action.slice(0, 50))}`);
  }
  return { type: type[1]!, name, actions: unique(actions) };
}

/**
 * The scopes of a token request: every `scope` parameter (GET sends one per scope), each of
 * which may itself hold several separated by spaces (OAuth2 POST sends one, and containerd
 * passes a challenge's space-separated list on as one GET parameter). Scopes for the same
 * resource are merged. Throws ScopeError on garbage or on more than MAX_SCOPES.
 */
export function parseScopeParams(values: readonly string[]): ResourceScope[] {
  const scopes: ResourceScope[] = [];
  for (const value of values) {
    for (const part of value.split(/[ \t]+/)) {
      if (part === "") continue;
      scopes.push(parseScope(part));
      if (scopes.length > MAX_SCOPES) throw new ScopeError(part, `more than ${MAX_SCOPES} scopes in one request`);
    }
  }
  return mergeScopes(scopes);
}

/** `type:name:a,b`; the form clients send and challenges carry. */
export function formatScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(",")}`;
}

/** Merges scopes naming the same resource, keeping first-seen order and putting actions in a stable order. */
export function mergeScopes(scopes: readonly ResourceScope[]): ResourceScope[] {
  const merged = new Map<string, ResourceScope>();
  for (const scope of scopes) {
    const key = `${scope.type}\0${scope.name}`;
    const seen = merged.get(key);
    if (seen === undefined) merged.set(key, { type: scope.type, name: scope.name, actions: sortActions(scope.actions) });
    else seen.actions = sortActions([...seen.actions, ...scope.actions]);
  }
  return [...merged.values()];
}

/** pull, push, delete first (the order clients write them), then anything else sorted. */
export function sortActions(actions: readonly string[]): string[] {
  const rank = (action: string) => {
    const index = (REPOSITORY_ACTIONS as readonly string[]).indexOf(action);
    return index === -1 ? REPOSITORY_ACTIONS.length : index;
  };
  return unique(actions).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether `granted` (a token's access list) covers `action` on the resource; `*` covers all. */
export function grants(granted: readonly ResourceScope[], type: string, name: string, action: string): boolean {
  return granted.some((entry) => entry.type === type && entry.name === name && (entry.actions.includes("*") || entry.actions.includes(action)));
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

// ---------------------------------------------------------------------------------------------
// Registry requests -> scopes

/**
 * The registry routes this table knows (src/registry/routes.ts). Structural, so that auth does not
 * import the registry: registry's `Route` is assignable to it (test/auth checks that, and that
 * every route kind and method has an entry).
 */
export type RouteForAccess =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "blob" | "uploads" | "upload" | "manifest" | "tags" | "referrers"; name: string };

type RepositoryRouteKind = Exclude<RouteForAccess["kind"], "base" | "catalog">;

const PULL: readonly Action[] = ["pull"];
// As distribution (registry/handlers/app.go, appendAccessRecords): a write also needs pull,
// since pushing involves reading back what the repository has. Clients ask for "pull,push".
const PUSH: readonly Action[] = ["pull", "push"];
const DELETE: readonly Action[] = ["delete"];

/**
 * Route kind and method -> repository actions needed. Upload sessions (status GET, cancel
 * DELETE) are part of a push, so they need push, not delete: distribution maps every DELETE to
 * `delete`, which would stop a pusher from cancelling its own upload.
 */
export const REPOSITORY_ACCESS: Record<RepositoryRouteKind, Readonly<Record<string, readonly Action[]>>> = {
  blob: { GET: PULL, HEAD: PULL, DELETE },
  uploads: { POST: PUSH },
  upload: { GET: PUSH, PATCH: PUSH, PUT: PUSH, DELETE: PUSH },
  manifest: { GET: PULL, HEAD: PULL, PUT: PUSH, DELETE },
  tags: { GET: PULL, HEAD: PULL },
  referrers: { GET: PULL, HEAD: PULL },
};

/** What one registry request needs. */
export interface RequiredAccess {
  /** Scopes the request needs. Empty for the base route /v2/: any valid credential will do. */
  scopes: ResourceScope[];
  /**
   * A cross-repository mount's source (`POST ...?mount=<digest>&from=<repo>`): pull on it is
   * needed for the mount to happen. distribution refuses the whole request without it; the OCI
   * spec lets a registry answer a mount it will not do with a plain upload session (202), which
   * is what `Authorizer` reports through `mayMount`.
   */
  mountFrom?: ResourceScope;
}

/**
 * The access a request needs, or undefined for a method the route does not answer (dispatch
 * has answered 405 before asking).
 */
export function requiredAccess(route: RouteForAccess, method: string, query?: URLSearchParams): RequiredAccess | undefined {
  if (route.kind === "base") return method === "GET" || method === "HEAD" ? { scopes: [] } : undefined;
  if (route.kind === "catalog") return method === "GET" || method === "HEAD" ? { scopes: [{ ...CATALOG, actions: ["*"] }] } : undefined;
  const table = REPOSITORY_ACCESS[route.kind];
  // hasOwn: a method named like an Object.prototype member is not in the table.
  const actions = Object.hasOwn(table, method) ? table[method] : undefined;
  if (actions === undefined) return undefined;
  const need: RequiredAccess = { scopes: [{ type: "repository", name: route.name, actions: [...actions] }] };
  const from = query?.get("from");
  if (route.kind === "uploads" && query?.get("mount") != null && from != null && from !== "" && from !== route.name) {
    need.mountFrom = { type: "repository", name: from, actions: ["pull"] };
  }
  return need;
}

/** The scopes a 401 challenge should name: all the request could use, the mount source too. */
export function challengeScopes(need: RequiredAccess): ResourceScope[] {
  return mergeScopes(need.mountFrom === undefined ? need.scopes : [...need.scopes, need.mountFrom]);
}
