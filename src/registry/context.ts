import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store } from "../store/types.js";
import type { RegistryMetadata } from "./metadata.js";
import type { Mirror } from "./mirror.js";
import type { ReadGate } from "./read-gate.js";
import type { RequestLimits } from "./limits.js";
import type { UploadSessions } from "./upload-session.js";

/** What every handler works with: the store and the registry state built on it. */
export interface Registry {
  readonly store: Store;
  readonly meta: RegistryMetadata;
  readonly uploads: UploadSessions;
  readonly limits: RequestLimits;
  /** Admits blob rebuilds (GET of a blob body), in arrival order, up to the configured limit. */
  readonly reads: ReadGate;
  /** Server-side messages (failures, notices); one line each. */
  readonly log: (line: string) => void;
  /** Mirror mode (mirror.ts): set when upstreams are configured. */
  readonly mirror?: Mirror;
}

/** One request, with its parsed URL. */
export interface Exchange {
  readonly registry: Registry;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly query: URLSearchParams;
}
