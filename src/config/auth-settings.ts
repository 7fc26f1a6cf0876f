import { DedupError } from "../errors.js";

/**
 * `serve`'s authentication settings (flags, or the same-named keys of the `--config` file), and
 * the one check of how they combine. File names only: reading and parsing the files is the
 * wiring's (cli/serve-auth.ts).
 *
 *   --htpasswd FILE                       HTTP basic against these users (bcrypt)
 *   --auth-policy FILE                    who may do what (auth/policy.ts); default: every user everything
 *   --token-realm URL --token-service NAME [--token-issuer NAME]
 *     with --token-key PEM                bearer tokens from the built-in token service (for the
 *                                         --htpasswd users), served at the realm's path
 *     with --token-trust FILE             bearer tokens from an external token service (its keys)
 */
export interface AuthSettings {
  htpasswd?: string;
  authPolicy?: string;
  tokenRealm?: string;
  tokenService?: string;
  tokenIssuer?: string;
  tokenKey?: string;
  tokenTrust?: string;
}

export const AUTH_KEYS = ["htpasswd", "authPolicy", "tokenRealm", "tokenService", "tokenIssuer", "tokenKey", "tokenTrust"] as const satisfies readonly (keyof AuthSettings)[];

/** What the settings ask for, checked: no auth, basic, or bearer tokens (with or without the built-in token service). */
export type AuthPlan =
  | { mode: "basic"; htpasswd: string; policy?: string }
  | {
      mode: "token";
      realm: string;
      service: string;
      issuer: string;
      policy?: string;
      /** The built-in token service: its users, its signing key, and the realm's path it answers at. */
      builtIn?: { htpasswd: string; key: string; path: string };
      /** An external token service's public keys (with `builtIn`: trusted too, e.g. the key before a rotation). */
      trust?: string;
    };

/** The flags of the token settings that need a key, for the message when none is given. */
const TOKEN_FLAGS = { tokenRealm: "--token-realm", tokenService: "--token-service", tokenIssuer: "--token-issuer" } as const;

/** Checks how the settings combine; undefined when auth is off. One clear error per inconsistent combination. */
export function planAuth(settings: AuthSettings): AuthPlan | undefined {
  const fail = (message: string): never => {
    throw new DedupError("INPUT_INVALID", `${message} (flags, or the same-named camelCase keys of the --config file)`);
  };
  const { htpasswd, authPolicy: policy, tokenRealm: realm, tokenService: service, tokenIssuer, tokenKey: key, tokenTrust: trust } = settings;
  const tokenFlags = (Object.keys(TOKEN_FLAGS) as (keyof typeof TOKEN_FLAGS)[]).filter((name) => settings[name] !== undefined).map((name) => TOKEN_FLAGS[name]);
  if (key === undefined && trust === undefined) {
    if (tokenFlags.length > 0) fail(`${tokenFlags.join(", ")}: bearer tokens need --token-key (the built-in token service) or --token-trust (an external one's keys)`);
    if (htpasswd === undefined) {
      if (policy !== undefined) fail("--auth-policy needs users to apply to: --htpasswd, or --token-trust for an external token service");
      return undefined;
    }
    return { mode: "basic", htpasswd, ...(policy === undefined ? {} : { policy }) };
  }
  if (realm === undefined || service === undefined) fail(`${key !== undefined ? "--token-key" : "--token-trust"} needs --token-realm URL (where clients get tokens) and --token-service NAME (this registry's name in them)`);
  const realmUrl = checkRealm(realm!, fail);
  if (key === undefined) {
    if (htpasswd !== undefined) fail("--htpasswd has no use with an external token service: its users log in there (for the built-in token service give --token-key)");
    if (tokenIssuer === undefined) fail("--token-trust needs --token-issuer NAME: the external token service's issuer (iss) that tokens must carry");
    return { mode: "token", realm: realm!, service: service!, issuer: tokenIssuer!, trust: trust!, ...(policy === undefined ? {} : { policy }) };
  }
  if (htpasswd === undefined) fail("--token-key needs --htpasswd: the built-in token service issues tokens to those users");
  // The realm's path is answered before /v2/ routes; under /v2/ it would shadow the API.
  if (realmUrl.pathname === "/v2" || realmUrl.pathname.startsWith("/v2/")) fail(`--token-realm ${realm}: the built-in token service's path must lie outside /v2/, e.g. /auth/token`);
  return {
    mode: "token",
    realm: realm!,
    service: service!,
    issuer: tokenIssuer ?? service!,
    builtIn: { htpasswd: htpasswd!, key, path: realmUrl.pathname },
    ...(trust === undefined ? {} : { trust }),
    ...(policy === undefined ? {} : { policy }),
  };
}

function checkRealm(realm: string, fail: (message: string) => never): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    return fail(`--token-realm ${JSON.stringify(realm)}: expected an absolute http:// or https:// URL, e.g. https://registry.example.com/auth/token`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") fail(`--token-realm ${realm}: expected an http:// or https:// URL`);
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") fail(`--token-realm ${realm}: no query, fragment or credentials, please`);
  return url;
}
