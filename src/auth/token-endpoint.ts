import { basicChallenge, isHeaderSafe, parseAuthorization } from "./challenge.js";
import { AuthConfigError } from "./errors.js";
import type { PasswordVerifier } from "./htpasswd.js";
import type { SigningKey } from "./keys.js";
import type { Policy } from "./policy.js";
import { formatScope, parseScopeParams, ScopeError, type ResourceScope } from "./scope.js";
import { issueToken } from "./token.js";

/**
 * The built-in token service for the htpasswd users (distribution's docs/spec/auth/token.md and
 * oauth.md), as a function from a parsed request to an answer; the registry serves it at the
 * realm's path (e.g. /auth/token).
 *
 * GET  /token?service=S&scope=repository:a:pull,push&scope=...&account=U   [Basic credentials]
 *   `docker login` calls it with credentials and no scope; pulls and pushes with their scopes;
 *   anonymous clients without credentials. The answer is
 *   `{token, access_token, expires_in, issued_at}`.
 * POST /token (form: grant_type=password&username=&password=&service=&scope=a b&client_id=)
 *   The OAuth2 form containerd tries first when it has credentials. The answer is
 *   `{access_token, scope, expires_in, issued_at}`.
 *
 * Granted access is the requested access intersected with the policy; a denied or unknown
 * scope is not an error but an entry with no actions, as the spec asks (the registry then
 * refuses the request itself). Wrong credentials are an error: 401 with a Basic challenge on
 * GET, 400 invalid_grant on POST (RFC 6749 section 5.2).
 *
 * Not done: refresh tokens. `offline_token=true` (docker login sends it) and
 * `access_type=offline` are ignored and no `refresh_token` is ever returned, so clients keep
 * using the password; `grant_type=refresh_token` answers 400 unsupported_grant_type (containerd
 * then falls back to GET, as it does for every 400).
 */
export interface TokenServiceConfig {
  /** The registry's service name: tokens' audience; a request naming another service is refused. */
  service: string;
  /** The tokens' issuer, which the registry trusts. */
  issuer: string;
  /** The Basic realm of a 401 for wrong credentials. */
  realm: string;
  users: PasswordVerifier;
  policy: Policy;
  key: SigningKey;
  /** Token lifetime; the spec asks for at least 60 s. Default 300 s, as Docker Hub. */
  ttlSeconds?: number;
}

export interface TokenRequest {
  method: string;
  query: URLSearchParams;
  authorization?: string | readonly string[];
  /** For POST: the Content-Type header and the body, read by the caller up to MAX_FORM_BYTES. */
  contentType?: string;
  body?: string;
  /** Issue time (a Date or ms since the epoch); default the clock. */
  now?: Date | number;
}

export interface TokenResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** Who got the token ("" when anonymous), for the access log; absent on errors. */
  subject?: string;
}

/** The largest POST form the caller should read; a form with a few scopes is well below. */
export const MAX_FORM_BYTES = 16 * 1024;
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

export type TokenHandler = (request: TokenRequest) => Promise<TokenResponse>;

/** Checks the config once and returns the handler. */
export function createTokenHandler(config: TokenServiceConfig): TokenHandler {
  const ttlSeconds = config.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 86_400) throw new AuthConfigError("auth.token.ttlSeconds", "must be a whole number of seconds from 60 to 86400");
  for (const [field, value] of [["service", config.service], ["issuer", config.issuer], ["realm", config.realm]] as const) {
    if (value === "" || !isHeaderSafe(value) || value.includes('"')) throw new AuthConfigError(`auth.token.${field}`, "must be printable ASCII without quotes");
  }
  return (request) => handle(config, ttlSeconds, request);
}

async function handle(config: TokenServiceConfig, ttlSeconds: number, request: TokenRequest): Promise<TokenResponse> {
  if (request.method === "GET") return handleGet(config, ttlSeconds, request);
  if (request.method === "POST") return handlePost(config, ttlSeconds, request);
  return failure(405, "invalid_request", `${request.method.slice(0, 20)} is not supported: use GET or POST`, { Allow: "GET, POST" });
}

async function handleGet(config: TokenServiceConfig, ttlSeconds: number, request: TokenRequest): Promise<TokenResponse> {
  const scopes = parseRequestScopes(request.query.getAll("scope"));
  if (!Array.isArray(scopes)) return scopes;
  const service = checkService(config, request.query.get("service"));
  if (service !== undefined) return service;

  const credentials = parseAuthorization(request.authorization);
  const challenge = { "WWW-Authenticate": basicChallenge(config.realm) };
  if (credentials.kind === "invalid") return failure(401, "invalid_client", `unusable credentials: ${credentials.reason}`, challenge);
  if (credentials.kind === "bearer") return failure(401, "invalid_client", "the token service takes Basic credentials", challenge);
  let user: string | undefined;
  if (credentials.kind === "basic") {
    const account = request.query.get("account");
    // docker sends its user as `account` too; two different names is a confused client.
    if (account !== null && account !== "" && account !== credentials.username) return failure(400, "invalid_request", "account does not match the credentials' user");
    if (!(await config.users.verify(credentials.username, credentials.password))) return failure(401, "invalid_client", "invalid username or password", challenge);
    user = credentials.username;
  }
  const granted = grantAll(config.policy, user, scopes);
  const issued = issueToken({ issuer: config.issuer, service: config.service, subject: user ?? "", access: granted, ttlSeconds, key: config.key, now: request.now });
  return success({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() }, user ?? "");
}

async function handlePost(config: TokenServiceConfig, ttlSeconds: number, request: TokenRequest): Promise<TokenResponse> {
  const mediaType = (request.contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") return failure(400, "invalid_request", "the POST body must be an application/x-www-form-urlencoded form");
  if ((request.body ?? "").length > MAX_FORM_BYTES) return failure(400, "invalid_request", "the form is too large");
  const form = new URLSearchParams(request.body ?? "");
  const grantType = form.get("grant_type");
  if (grantType !== "password") {
    return failure(400, "unsupported_grant_type", grantType === null ? "grant_type is missing" : `grant_type ${JSON.stringify(grantType.slice(0, 40))} is not supported: use password`);
  }
  const scopes = parseRequestScopes(form.getAll("scope"));
  if (!Array.isArray(scopes)) return scopes;
  const service = checkService(config, form.get("service"));
  if (service !== undefined) return service;
  const username = form.get("username");
  const password = form.get("password");
  if (username === null || username === "" || password === null) return failure(400, "invalid_request", "the password grant needs username and password");
  if (!(await config.users.verify(username, password))) return failure(400, "invalid_grant", "invalid username or password");
  const granted = grantAll(config.policy, username, scopes);
  const issued = issueToken({ issuer: config.issuer, service: config.service, subject: username, access: granted, ttlSeconds, key: config.key, now: request.now });
  const scope = granted
    .filter((entry) => entry.actions.length > 0)
    .map(formatScope)
    .join(" ");
  return success({ access_token: issued.token, scope, expires_in: issued.expiresIn, issued_at: issued.issuedAt.toISOString() }, username);
}

function grantAll(policy: Policy, user: string | undefined, scopes: readonly ResourceScope[]): ResourceScope[] {
  return scopes.map((scope) => policy.grant(user, scope));
}

function parseRequestScopes(values: string[]): ResourceScope[] | TokenResponse {
  try {
    return parseScopeParams(values);
  } catch (error) {
    if (error instanceof ScopeError) return failure(400, "invalid_scope", error.message);
    throw error;
  }
}

function checkService(config: TokenServiceConfig, service: string | null): TokenResponse | undefined {
  if (service === null || service === "" || service === config.service) return undefined;
  return failure(400, "invalid_request", `unknown service ${JSON.stringify(service.slice(0, 100))}: this token service issues tokens for ${JSON.stringify(config.service)}`);
}

// RFC 6749 section 5.1: token answers must not be cached.
const NO_STORE = { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", Pragma: "no-cache" };

function success(body: Record<string, unknown>, subject: string): TokenResponse {
  return { status: 200, headers: { ...NO_STORE }, body, subject };
}

/**
 * An error in the two shapes clients read: OAuth2's `error`/`error_description` (RFC 6749
 * section 5.2), and `details`, which docker's client turns into its error message.
 */
function failure(status: number, error: string, description: string, headers: Record<string, string> = {}): TokenResponse {
  return { status, headers: { ...NO_STORE, ...headers }, body: { error, error_description: description, details: description } };
}
