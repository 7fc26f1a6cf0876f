import type { ServerResponse } from "node:http";
import { AuthError } from "../auth/errors.js";
import { DedupError, type ErrorCode } from "../errors.js";
import { closesConnection } from "../http/body.js";

/**
 * Error codes of the OCI Distribution Spec v1.1 (section "Error Codes"), and two that CNCF
 * distribution also sends for server-side failures, UNKNOWN and UNAVAILABLE: a client's mistake
 * is always answered with one of the spec's own fourteen.
 */
export type OciErrorCode =
  | "BLOB_UNKNOWN"
  | "BLOB_UPLOAD_INVALID"
  | "BLOB_UPLOAD_UNKNOWN"
  | "DIGEST_INVALID"
  | "MANIFEST_BLOB_UNKNOWN"
  | "MANIFEST_INVALID"
  | "MANIFEST_UNKNOWN"
  | "NAME_INVALID"
  | "NAME_UNKNOWN"
  | "SIZE_INVALID"
  | "UNAUTHORIZED"
  | "DENIED"
  | "UNSUPPORTED"
  | "TOOMANYREQUESTS"
  | "UNKNOWN"
  | "UNAVAILABLE";

/** The status each code gets unless the thrower says otherwise. */
const DEFAULT_STATUS: Record<OciErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  UNKNOWN: 500,
  UNAVAILABLE: 503,
};

/** An answer to a bad request: thrown by the registry's handlers, written by `sendError`. */
export class RegistryError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: Record<string, unknown>;
  /** Extra response headers, e.g. `Content-Range` on a 416 or `Allow` on a 405. */
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message: string, options: { detail?: Record<string, unknown>; status?: number; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "RegistryError";
    this.code = code;
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.detail = options.detail ?? {};
    this.headers = options.headers ?? {};
  }

  /** 5xx answers are the server's fault and get logged; 4xx ones are the client's. */
  get isServerFault(): boolean {
    return this.status >= 500;
  }
}

/**
 * The one place where domain errors become OCI answers. The `Record` over every domain code
 * makes the compiler refuse a new DedupError code until it has an answer here.
 */
const FROM_DOMAIN: Record<ErrorCode, { code: OciErrorCode; status?: number; message?: string }> = {
  BLOB_UNKNOWN: { code: "BLOB_UNKNOWN" },
  DIGEST_INVALID: { code: "DIGEST_INVALID" },
  DIGEST_MISMATCH: { code: "DIGEST_INVALID" },
  SIZE_MISMATCH: { code: "SIZE_INVALID" },
  // A byte range outside a blob: its length does not fit the blob's.
  RANGE_INVALID: { code: "SIZE_INVALID", status: 416 },
  INPUT_INVALID: { code: "UNSUPPORTED", status: 400 },
  // Missing or damaged chunks under a known blob: the store is broken, not the request.
  CHUNK_MISSING: { code: "UNKNOWN", message: "the registry's store is missing data for this blob" },
  CHUNK_CORRUPT: { code: "UNKNOWN", message: "the registry's store holds damaged data for this blob" },
  STORE_INVALID: { code: "UNKNOWN", message: "the registry's store is damaged" },
  STORE_UNAVAILABLE: { code: "UNAVAILABLE", message: "the registry's store is unavailable" },
};

/** Any thrown value as a RegistryError; the original stays as `cause` for the log. */
export function toRegistryError(error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  // A refusal carries its own status, challenge and detail (auth/errors.ts): passed on as they are.
  if (error instanceof AuthError) return new RegistryError(error.code, error.message, { status: error.status, headers: error.headers, detail: error.detail, cause: error });
  if (error instanceof DedupError) {
    const mapped = FROM_DOMAIN[error.code];
    // Server-side failures keep their internals (paths, chunk ids) out of the response.
    const serverFault = (mapped.status ?? DEFAULT_STATUS[mapped.code]) >= 500;
    return new RegistryError(mapped.code, mapped.message ?? error.message, {
      status: mapped.status,
      detail: serverFault ? {} : error.detail,
      cause: error,
    });
  }
  return new RegistryError("UNKNOWN", "internal server error", { cause: error });
}

/** Writes the spec's `{"errors":[{code,message,detail}]}` body, or drops a half-sent response. */
export function sendError(res: ServerResponse, error: RegistryError): void {
  if (res.headersSent) {
    // The status line is gone; cutting the connection is the only way to tell the client.
    res.destroy();
    return;
  }
  const body = errorBody(error);
  const headers: Record<string, string> = { ...error.headers, "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length) };
  // The unread rest of a refused body would be taken for the next request on this connection.
  if (res.req !== undefined && closesConnection(res.req)) headers.Connection = "close";
  res.writeHead(error.status, headers);
  res.end(body);
}

/** The spec's `{"errors":[{code,message,detail}]}` body of an error. */
export function errorBody(error: RegistryError): Buffer {
  return Buffer.from(JSON.stringify({ errors: [{ code: error.code, message: error.message, detail: error.detail }] }));
}
