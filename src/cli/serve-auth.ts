import { Authorizer } from "../auth/authorizer.js";
import { BcryptPool } from "../auth/bcrypt-pool.js";
import { AuthConfigError } from "../auth/errors.js";
import { HtpasswdFile } from "../auth/htpasswd.js";
import { signingKeyFromPem, trustedKeyOf, trustedKeysFrom, type TrustedKey } from "../auth/keys.js";
import { Policy } from "../auth/policy.js";
import { createTokenHandler } from "../auth/token-endpoint.js";
import { planAuth, type AuthSettings } from "../config/auth-settings.js";
import { readSettingsFile } from "../config/read-file.js";
import type { RegistryAuth } from "../registry/context.js";

/** Auth as the registry and the seed API take it, and what to tell the operator. */
export interface ServeAuth {
  registry: RegistryAuth;
  /** What anonymous clients may pull: the seed API's view (it has no users). */
  mayPullAnonymously(repository: string): boolean;
  /** One line for the start-up log. */
  summary: string;
  close(): Promise<void>;
}

/** Without a policy file: every authenticated user may do everything, anonymous users nothing. */
const DEFAULT_POLICY = { rules: [{ repositories: ["**"], users: ["*"], actions: ["*"] }], catalog: { users: ["*"] } };
/** The Basic realm clients are challenged with (a name shown to users, not a URL). */
const BASIC_REALM = "docker-dedup";

/** Reads the files the settings name; undefined when auth is off. */
export async function buildServeAuth(settings: AuthSettings | undefined, log: (line: string) => void): Promise<ServeAuth | undefined> {
  const plan = settings === undefined ? undefined : planAuth(settings);
  if (plan === undefined) return undefined;
  const policyFile = plan.policy;
  const policy = policyFile === undefined ? Policy.parse(DEFAULT_POLICY) : Policy.parse(await readJson(policyFile, "auth policy"), policyFile);
  const policyText = policyFile === undefined ? "default policy (every user everything, anonymous users nothing)" : `policy ${policyFile}`;
  const mayPullAnonymously = (repository: string) => policy.allowedActions(undefined, repository, ["pull"]).length > 0;
  const pool = new BcryptPool();
  const done = (registry: RegistryAuth, summary: string): ServeAuth => ({ registry, mayPullAnonymously, summary: `auth: ${summary}; ${policyText}`, close: () => pool.close() });
  const htpasswd = plan.mode === "basic" ? plan.htpasswd : plan.builtIn?.htpasswd;
  const users = htpasswd === undefined ? undefined : new HtpasswdFile(htpasswd, { compare: pool.compare, log: (line) => log(`htpasswd: ${line}`) });
  const userCount = users === undefined ? 0 : (await users.load()).size;
  if (users !== undefined && userCount === 0) log(`htpasswd: ${htpasswd} holds no users: nobody can log in`);
  if (plan.mode === "basic") {
    return done({ authorizer: new Authorizer({ mode: "basic", realm: BASIC_REALM, users: users!, policy }) }, `HTTP basic, ${userCount} users from ${htpasswd}`);
  }
  const keys: TrustedKey[] = plan.trust === undefined ? [] : trustedKeysFrom(await readSettingsFile(plan.trust, "token trust file"), plan.trust);
  const { realm, service, issuer, builtIn } = plan;
  // With an external token service its tokens decide; a policy given as well filters the catalog.
  const catalogPolicy = builtIn !== undefined || policyFile !== undefined ? { policy } : {};
  if (builtIn === undefined) {
    const authorizer = new Authorizer({ mode: "token", realm, service, issuer, keys, ...catalogPolicy });
    return done({ authorizer }, `bearer tokens for ${service} issued by ${issuer} (${realm}), ${keys.length} trusted keys from ${plan.trust}`);
  }
  const key = signingKeyFromPem(await readSettingsFile(builtIn.key, "token signing key"), { where: builtIn.key });
  const authorizer = new Authorizer({ mode: "token", realm, service, issuer, keys: [trustedKeyOf(key), ...keys], ...catalogPolicy });
  const handler = createTokenHandler({ service, issuer, realm: BASIC_REALM, users: users!, policy, key });
  const trusted = plan.trust === undefined ? "" : `, also trusting ${keys.length} keys from ${plan.trust}`;
  return done({ authorizer, tokenService: { path: builtIn.path, handler } }, `bearer tokens for ${service}, from the built-in token service at ${realm} (${userCount} users from ${htpasswd}, ${key.alg} key ${key.kid})${trusted}`);
}

async function readJson(path: string, what: string): Promise<unknown> {
  const text = (await readSettingsFile(path, what)).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AuthConfigError(path, `${what} is not valid JSON: ${(error as Error).message}`);
  }
}
