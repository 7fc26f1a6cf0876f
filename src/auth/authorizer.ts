import { basicChallenge, bearerChallenge, isHeaderSafe, parseAuthorization, type BearerError } from "./challenge.js";
import { AuthConfigError, AuthError } from "./errors.js";
import type { PasswordVerifier } from "./htpasswd.js";
import type { TrustedKey } from "./keys.js";
import type { Policy } from "./policy.js";
import { CATALOG, challengeScopes, grants, type RequiredAccess, type ResourceScope } from "./scope.js";
import { verifyToken } from "./token.js";

/**
 * The one call dispatch makes per request: who is asking, and may they do what the request
 * needs (`requiredAccess` in scope.ts)? Two modes, as distribution has them:
 *
 * - `basic`: every request carries `Authorization: Basic`, checked against htpasswd users and
 *   the policy here. No credentials and not allowed: 401 with a Basic challenge. Good
 *   credentials and not allowed: 403 DENIED.
 * - `token`: every request carries `Authorization: Bearer <JWT>` from a token service (the
 *   built-in one, token-endpoint.ts, or an external one such as docker_auth); the token's
 *   `access` claim alone decides. Anything short of that is 401 with a Bearer challenge that
 *   names the realm, service and scope, and says `invalid_token` or `insufficient_scope` when a
 *   token was sent, as distribution answers (it never answers 403 in this mode).
 *
 * The base route /v2/ needs valid credentials in both modes (an anonymous token counts): it is
 * where `docker login` learns that the registry wants them, and a 200 there would make docker
 * report a login as good without checking the password.
 */
export type AuthConfig = BasicAuthConfig | TokenAuthConfig;

export interface BasicAuthConfig {
  mode: "basic";
  /** The Basic realm clients show, e.g. "docker-dedup". */
  realm: string;
  users: PasswordVerifier;
  policy: Policy;
}

export interface TokenAuthConfig {
  mode: "token";
  /** The token service's absolute URL, e.g. "https://registry.example.com/auth/token". */
  realm: string;
  /** This registry's name in tokens (`aud`) and challenges, e.g. "registry.example.com". */
  service: string;
  /** Token issuers trusted (`iss`). */
  issuer: string | readonly string[];
  keys: readonly TrustedKey[];
  clockSkewSeconds?: number;
  /** With the built-in token service, the same policy: used only to filter the catalog by what the user may pull. */
  policy?: Policy;
}

/** Who a request came from, and what it may do beyond what it was checked for. */
export interface Authorized {
  /** The user (htpasswd name or token subject); undefined when anonymous. */
  user: string | undefined;
  /** Whether a cross-repository mount may happen; when false, serve the POST as a plain upload. */
  mayMount: boolean;
  /** For the catalog: whether a repository name may be listed to this user. */
  mayList(repository: string): boolean;
}

export class Authorizer {
  readonly config: AuthConfig;

  constructor(config: AuthConfig) {
    checkConfig(config);
    this.config = config;
  }

  /** Resolves when the request may go on; throws AuthError (401 with a challenge, or 403) otherwise. */
  async authorize(authorization: string | readonly string[] | undefined, need: RequiredAccess, now?: Date | number): Promise<Authorized> {
    return this.config.mode === "basic" ? authorizeBasic(this.config, authorization, need) : authorizeToken(this.config, authorization, need, now);
  }
}

async function authorizeBasic(config: BasicAuthConfig, authorization: string | readonly string[] | undefined, need: RequiredAccess): Promise<Authorized> {
  const challenge = { "WWW-Authenticate": basicChallenge(config.realm) };
  const credentials = parseAuthorization(authorization);
  if (credentials.kind === "invalid") throw new AuthError("UNAUTHORIZED", `authentication required: ${credentials.reason}`, { headers: challenge });
  if (credentials.kind === "bearer") throw new AuthError("UNAUTHORIZED", "this registry takes Basic credentials, not tokens", { headers: challenge });
  let user: string | undefined;
  if (credentials.kind === "basic") {
    // Bad credentials are refused even where anonymous access would do: a client that sent a
    // password wants to know it is wrong.
    if (!(await config.users.verify(credentials.username, credentials.password))) throw new AuthError("UNAUTHORIZED", "invalid username or password", { headers: challenge });
    user = credentials.username;
  }
  const policy = config.policy;
  const missing = need.scopes.filter((scope) => !policyAllows(policy, user, scope));
  if (user === undefined && (need.scopes.length === 0 || missing.length > 0)) {
    throw new AuthError("UNAUTHORIZED", "authentication required", { headers: challenge, detail: accessDetail(need.scopes) });
  }
  if (missing.length > 0) throw new AuthError("DENIED", "requested access to the resource is denied", { detail: accessDetail(missing) });
  return {
    user,
    mayMount: need.mountFrom === undefined || policyAllows(policy, user, need.mountFrom),
    mayList: (repository) => policy.allowedActions(user, repository, ["pull"]).length > 0,
  };
}

function policyAllows(policy: Policy, user: string | undefined, scope: ResourceScope): boolean {
  if (scope.type === CATALOG.type && scope.name === CATALOG.name) return policy.mayListCatalog(user);
  if (scope.type !== "repository") return false;
  const allowed: readonly string[] = policy.allowedActions(user, scope.name, scope.actions);
  return scope.actions.every((action) => allowed.includes(action));
}

async function authorizeToken(config: TokenAuthConfig, authorization: string | readonly string[] | undefined, need: RequiredAccess, now?: Date | number): Promise<Authorized> {
  const refuse = (message: string, error?: BearerError, detailScopes = need.scopes) =>
    new AuthError("UNAUTHORIZED", message, {
      headers: { "WWW-Authenticate": bearerChallenge({ realm: config.realm, service: config.service, scopes: challengeScopes(need), ...(error === undefined ? {} : { error }) }) },
      detail: accessDetail(detailScopes),
    });
  const credentials = parseAuthorization(authorization);
  // Basic credentials (or none) mean the client has not been to the token service yet.
  if (credentials.kind === "none" || credentials.kind === "basic") throw refuse("authentication required");
  if (credentials.kind === "invalid") throw refuse(`authentication required: ${credentials.reason}`, "invalid_request");
  const verified = verifyToken(credentials.token, { issuer: config.issuer, service: config.service, keys: config.keys, clockSkewSeconds: config.clockSkewSeconds, now });
  if (!verified.ok) throw refuse(`invalid token: ${verified.message}`, "invalid_token");
  const missing = need.scopes.filter((scope) => !scope.actions.every((action) => grants(verified.access, scope.type, scope.name, action)));
  if (missing.length > 0) throw refuse("insufficient scope: the token does not grant this request", "insufficient_scope", missing);
  const user = verified.subject === "" ? undefined : verified.subject;
  const policy = config.policy;
  return {
    user,
    mayMount: need.mountFrom === undefined || grants(verified.access, "repository", need.mountFrom.name, "pull"),
    mayList: (repository) => policy === undefined || policy.allowedActions(user, repository, ["pull"]).length > 0,
  };
}

/** distribution's 401 body lists what was asked for, one entry per action. */
function accessDetail(scopes: readonly ResourceScope[]): Record<string, unknown> {
  return { access: scopes.flatMap((scope) => scope.actions.map((action) => ({ type: scope.type, name: scope.name, action }))) };
}

function checkConfig(config: AuthConfig): void {
  if (config.realm === "" || !isHeaderSafe(config.realm) || config.realm.includes('"')) throw new AuthConfigError("auth.realm", "must be printable ASCII without quotes");
  if (config.mode === "basic") return;
  let realm: URL;
  try {
    realm = new URL(config.realm);
  } catch {
    throw new AuthConfigError("auth.realm", `the token realm must be an absolute URL, not ${JSON.stringify(config.realm)}`);
  }
  // Clients fetch the realm with the user's password: only http(s), and they refuse anything else.
  if (realm.protocol !== "https:" && realm.protocol !== "http:") throw new AuthConfigError("auth.realm", "the token realm must be an http or https URL");
  if (config.service === "" || !isHeaderSafe(config.service) || config.service.includes('"')) throw new AuthConfigError("auth.service", "must be printable ASCII without quotes");
  if (config.keys.length === 0) throw new AuthConfigError("auth.keys", "token mode needs at least one trusted key");
  const issuers = typeof config.issuer === "string" ? [config.issuer] : config.issuer;
  if (issuers.length === 0 || issuers.some((issuer) => issuer === "")) throw new AuthConfigError("auth.issuer", "must name the token issuer");
}
