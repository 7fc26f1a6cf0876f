import type { Authorized, Authorizer } from "../auth/authorizer.js";
import { requiredAccess } from "../auth/scope.js";
import { MAX_FORM_BYTES, type TokenHandler } from "../auth/token-endpoint.js";
import { readBody } from "../http/body.js";
import type { Exchange } from "./context.js";
import { sendJson } from "./http-util.js";
import { bodyRules } from "./limits.js";
import type { Route } from "./routes.js";

/** Who is asking, once they may do what the request needs; throws AuthError (401 with a challenge, or 403) otherwise. */
export async function authorizeRequest(ex: Exchange, authorizer: Authorizer, route: Route): Promise<Authorized> {
  // dispatch has answered 405 for a method the route does not take, so the access is known.
  const need = requiredAccess(route, ex.method, ex.query)!;
  return authorizer.authorize(ex.req.headers.authorization, need, ex.registry.now());
}

/**
 * Who is asking, for a listing outside /v2/ (the web UI's API, ui/): authorized as the catalog
 * is, so that `mayList` tells which repositories they may see (the policy's pull). Undefined
 * when the registry is open; throws AuthError (a 401 challenge, or 403) like any request.
 */
export async function authorizeListing(ex: Exchange): Promise<Authorized | undefined> {
  const auth = ex.registry.auth;
  if (auth === undefined) return undefined;
  ex.who = await authorizeRequest(ex, auth.authorizer, { kind: "catalog" });
  return ex.who;
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
