/**
 * Domain errors. Lower layers (chunking, store, layers, sites) throw these; only the edges
 * (the CLI, the registry's error mapping) turn them into exit codes or HTTP answers.
 */
export type ErrorCode =
  | "BLOB_UNKNOWN"
  | "CHUNK_MISSING"
  | "CHUNK_CORRUPT"
  | "DIGEST_INVALID"
  | "DIGEST_MISMATCH"
  | "SIZE_MISMATCH"
  | "RANGE_INVALID"
  | "STORE_INVALID"
  | "STORE_UNAVAILABLE"
  | "INPUT_INVALID";

export class DedupError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DedupError";
    this.code = code;
    this.detail = detail;
  }
}

export function isDedupError(error: unknown, code?: ErrorCode): error is DedupError {
  return error instanceof DedupError && (code === undefined || error.code === code);
}
