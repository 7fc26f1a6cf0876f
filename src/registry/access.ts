import type { Authorized, Authorizer } from "../auth/authorizer.js";
import { requiredAccess } from "../auth/scope.js";
import { MAX_FORM_BYTES, type TokenHandler } from "../auth/token-endpoint.js";
import { readBody } from "../http/body.js";
import type { Exchange } from "./context.js";
import { sendJson } from "./http-util.js";
import { bodyRules } from "./limits.js";
import type { Route } from "./routes.js";

/**
 * Who may do what (auth/), at the registry's door: every /v2/ request is authorized in dispatch
 * before any handler runs, and the built-in token service is answered beside the API. Without a
 * `RegistryAuth` the registry is open, as before.
 */
export interface RegistryAuth {
  authorizer: Authorizer;
  /** The built-in token service, answered at `path` (its realm's path, outside /v2/) for GET and POST, without auth. */
  tokenService?: { path: string; handler: TokenHandler };
}

/** Who is asking, once they may do what the request needs; throws AuthError (401 with a challenge, or 403) otherwise. */
export async function authorizeRequest(ex: Exchange, authorizer: Authorizer, route: Route): Promise<Authorized> {
  // dispatch has answered 405 for a method the route does not take, so the access is known.
  const need = requiredAccess(route, ex.method, ex.query)!;
  return authorizer.authorize(ex.req.headers.authorization, need, ex.registry.now());
}

/** A GET or POST at the token realm: the token service's answer, as JSON. */
export async function answerTokenRequest(ex: Exchange, handler: TokenHandler): Promise<void> {
  const form = ex.method === "POST" ? await readBody(ex.req, bodyRules(ex.registry.limits, "UNSUPPORTED", "the token request", MAX_FORM_BYTES)) : undefined;
  const answer = await handler({
    method: ex.method,
    query: ex.query,
    authorization: ex.req.headers.authorization,
    contentType: ex.req.headers["content-type"],
    body: form?.toString("utf8"),
    now: ex.registry.now(),
  });
  // For the access log: who got a token.
  if (answer.subject !== undefined && answer.subject !== "") ex.who = { user: answer.subject, mayMount: false, mayList: () => false };
  sendJson(ex.res, answer.status, answer.body, answer.headers);
}
