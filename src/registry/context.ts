import type { IncomingMessage, ServerResponse } from "node:http";
import type { Authorized, Authorizer } from "../auth/authorizer.js";
import type { TokenHandler } from "../auth/token-endpoint.js";
import type { BlobService } from "../layers/blob-service.js";
import type { RegistryMetadata } from "./metadata.js";
import type { Route } from "./routes.js";
import type { ReadGate } from "./read-gate.js";
import type { RequestLimits } from "./limits.js";
import type { UploadSessions } from "./upload-session.js";

/** What every handler works with: the blobs, and the registry's records about them. */
export interface Registry {
  readonly blobs: BlobService;
  readonly meta: RegistryMetadata;
  readonly uploads: UploadSessions;
  readonly limits: RequestLimits;
  /** Admits blob rebuilds (GET of a blob body), in arrival order, up to the configured limit. */
  readonly reads: ReadGate;
  /** Server-side messages (failures, notices); one line each. */
  readonly log: (line: string) => void;
  /** Mirror mode (mirror.ts): set when upstreams are configured. */
  readonly mirror?: MirrorRoutes;
  /** Authentication and authorization (access.ts); undefined: an open registry. */
  readonly auth?: RegistryAuth;
  /** The time now, in ms since the epoch: tokens are checked and issued by it. */
  readonly now: () => number;
}

/**
 * Who may do what (auth/), at the registry's door (access.ts): every /v2/ request is authorized
 * in dispatch before any handler runs, and the built-in token service is answered beside the
 * API. Without it the registry is open.
 */
export interface RegistryAuth {
  authorizer: Authorizer;
  /** The built-in token service, answered at `path` (its realm's path, outside /v2/) for GET and POST, without auth. */
  tokenService?: { path: string; handler: TokenHandler };
}

/** One request, with its parsed URL. */
export interface Exchange {
  readonly registry: Registry;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly query: URLSearchParams;
  /** Who asked, once authorized (with auth on): the user for logs and per-user limits, and what else they may do. */
  who?: Authorized;
}

/** Mirror mode as the dispatcher sees it: it takes the requests for mirrored repositories. */
export interface MirrorRoutes {
  /** Serves the request if it names a mirrored repository; false when the repository is local. */
  handle(ex: Exchange, route: Extract<Route, { name: string }>): Promise<boolean>;
  /** Stops upstream fetches in flight and waits for them to settle. */
  close(): Promise<void>;
}
