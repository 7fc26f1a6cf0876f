/**
 * The two ways auth fails. A bad configuration (htpasswd file, policy, keys) is found at start-up
 * or reload and says where; a refused request carries everything its HTTP answer needs, so the
 * registry maps it in one line (see `toRegistryError`) without knowing how auth decided.
 */

/** An htpasswd file, policy or key that cannot be used; `where` names the line, field or file. */
export class AuthConfigError extends Error {
  readonly where: string;

  constructor(where: string, message: string, options?: { cause?: unknown }) {
    super(`${where}: ${message}`, options);
    this.name = "AuthConfigError";
    this.where = where;
  }
}

/** The OCI error codes a refusal answers with (the spec's UNAUTHORIZED 401 and DENIED 403). */
export type AuthRefusalCode = "UNAUTHORIZED" | "DENIED";

/**
 * A request that auth refuses. 401 UNAUTHORIZED always carries a `WWW-Authenticate` challenge
 * (RFC 7235 requires one, and clients only log in after seeing it); 403 DENIED means the
 * credentials were good and are not enough, so asking again would not help.
 */
export class AuthError extends Error {
  readonly code: AuthRefusalCode;
  readonly status: 401 | 403;
  /** Response headers: `WWW-Authenticate` on a 401. */
  readonly headers: Record<string, string>;
  /** What was asked for, as distribution's 401 body lists it: `[{type, name, action}]`. */
  readonly detail: Record<string, unknown>;

  constructor(code: AuthRefusalCode, message: string, options: { headers?: Record<string, string>; detail?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "AuthError";
    this.code = code;
    this.status = code === "UNAUTHORIZED" ? 401 : 403;
    this.headers = options.headers ?? {};
    this.detail = options.detail ?? {};
  }
}
