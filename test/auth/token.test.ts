import assert from "node:assert/strict";
import { createHmac, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { AuthConfigError } from "../../src/auth/errors.js";
import { jwkThumbprint, libtrustKeyId, signingKeyFromPem, toJwks, trustedKeysFrom } from "../../src/auth/keys.js";
import { issueToken, verifyToken, type VerifyOptions } from "../../src/auth/token.js";
import { tempDir } from "../helpers.js";
import { selfSignedCertificate } from "../tls-certificates.js";
import { decodeParts, ecKey, encodePart, rsaKey, trustedKeyOf } from "./fixtures.js";

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const EC = ecKey();
const RSA = rsaKey();
const ACCESS = [{ type: "repository", name: "team/app", actions: ["pull", "push"] }];

function issue(overrides: Partial<Parameters<typeof issueToken>[0]> = {}) {
  return issueToken({ issuer: "auth.example", service: "registry.example", subject: "alice", access: ACCESS, ttlSeconds: 300, key: EC, now: NOW, ...overrides });
}

function options(overrides: Partial<VerifyOptions> = {}): VerifyOptions {
  return { issuer: "auth.example", service: "registry.example", keys: [trustedKeyOf(EC), trustedKeyOf(RSA)], now: NOW, ...overrides };
}

test("ES256 and RS256 tokens round-trip with distribution's header and claims", () => {
  for (const key of [EC, RSA]) {
    const issued = issue({ key, jti: "fixed-id" });
    const { header, claims, signature } = decodeParts(issued.token);
    assert.deepEqual(header, { typ: "JWT", alg: key.alg, kid: key.kid });
    assert.deepEqual(claims, { iss: "auth.example", sub: "alice", aud: "registry.example", exp: NOW / 1000 + 300, nbf: NOW / 1000, iat: NOW / 1000, jti: "fixed-id", access: ACCESS });
    if (key.alg === "ES256") assert.equal(Buffer.from(signature, "base64url").length, 64, "JWS r||s, not DER");
    assert.equal(issued.expiresIn, 300);
    assert.equal(issued.issuedAt.toISOString(), "2025-01-01T12:00:00.000Z");
    const verified = verifyToken(issued.token, options());
    assert.deepEqual(verified, { ok: true, subject: "alice", access: ACCESS, issuer: "auth.example", expiresAt: new Date(NOW + 300_000), jti: "fixed-id" });
  }
});

test("an anonymous token has an empty subject; jti is random by default", () => {
  const a = issue({ subject: "", access: [] });
  const b = issue({ subject: "", access: [] });
  assert.notEqual(decodeParts(a.token).claims.jti, decodeParts(b.token).claims.jti);
  const verified = verifyToken(a.token, options());
  assert.ok(verified.ok);
  assert.equal(verified.subject, "");
  assert.deepEqual(verified.access, []);
});

test("exp and nbf are checked with the clock skew leeway", () => {
  const { token } = issue();
  const at = (ms: number, skew?: number) => verifyToken(token, options({ now: ms, ...(skew === undefined ? {} : { clockSkewSeconds: skew }) }));
  assert.ok(at(NOW + 300_000 + 60_000).ok, "within the default 60 s leeway");
  assert.deepEqual(pick(at(NOW + 300_000 + 60_001)), "expired");
  assert.deepEqual(pick(at(NOW + 300_001, 0)), "expired");
  assert.ok(at(NOW - 60_000).ok);
  assert.deepEqual(pick(at(NOW - 60_001)), "not_yet_valid");
  assert.deepEqual(pick(verifyToken(token, options({ now: new Date(NOW - 1000), clockSkewSeconds: 0 }))), "not_yet_valid");
});

test("wrong issuer or audience are refused; aud may be a list", () => {
  const { token } = issue();
  assert.equal(pick(verifyToken(token, options({ issuer: "someone.else" }))), "wrong_issuer");
  assert.ok(verifyToken(token, options({ issuer: ["someone.else", "auth.example"] })).ok);
  assert.equal(pick(verifyToken(token, options({ service: "other.registry" }))), "wrong_audience");
  const listed = forge(EC, { ...decodeParts(token).claims, aud: ["x", "registry.example"] });
  assert.ok(verifyToken(listed, options()).ok);
});

test("tampered claims or signatures fail the signature check", () => {
  for (const key of [EC, RSA]) {
    const { token } = issue({ key });
    const [header, claims, signature] = token.split(".") as [string, string, string];
    const escalated = encodePart({ ...decodeParts(token).claims, access: [{ type: "repository", name: "team/app", actions: ["*"] }] });
    assert.equal(pick(verifyToken(`${header}.${escalated}.${signature}`, options())), "bad_signature");
    const flipped = Buffer.from(signature, "base64url");
    flipped[5] = flipped[5]! ^ 1;
    assert.equal(pick(verifyToken(`${header}.${claims}.${flipped.toString("base64url")}`, options())), "bad_signature");
    assert.equal(pick(verifyToken(`${header}.${claims}.`, options())), "bad_signature");
    assert.equal(pick(verifyToken(`${header}.${claims}.${signature.slice(0, -4)}`, options())), "bad_signature");
  }
});

test("alg none, HS256 keyed with the public key, and other algorithms are refused", () => {
  const { token } = issue();
  const { claims } = decodeParts(token);
  const unsigned = `${encodePart({ typ: "JWT", alg: "none", kid: EC.kid })}.${encodePart(claims)}.`;
  assert.equal(pick(verifyToken(unsigned, options())), "unsupported_algorithm");

  // The classic confusion attack: HMAC with the verifier's public key as the secret.
  const publicPem = EC.publicKey.export({ type: "spki", format: "pem" });
  const input = `${encodePart({ typ: "JWT", alg: "HS256", kid: EC.kid })}.${encodePart(claims)}`;
  const hs256 = `${input}.${createHmac("sha256", publicPem).update(input).digest("base64url")}`;
  assert.equal(pick(verifyToken(hs256, options())), "unsupported_algorithm");

  for (const alg of ["ES384", "PS256", "RS512", "EdDSA", "es256", undefined, 7]) {
    const forged = `${encodePart({ typ: "JWT", alg, kid: EC.kid })}.${encodePart(claims)}.${token.split(".")[2]}`;
    assert.equal(pick(verifyToken(forged, options())), "unsupported_algorithm", String(alg));
  }
});

test("the header's algorithm must be the named key's", () => {
  // An RS256 header naming the EC key: refused before any signature is tried.
  const forged = forge(RSA, decodeParts(issue().token).claims, { kid: EC.kid });
  assert.equal(pick(verifyToken(forged, options())), "unknown_key");
});

test("unknown kid; a missing kid tries each trusted key of the algorithm", () => {
  const { claims } = decodeParts(issue().token);
  assert.equal(pick(verifyToken(forge(EC, claims, { kid: "AAAA:BBBB" }), options())), "unknown_key");
  const stranger = ecKey();
  assert.equal(pick(verifyToken(issue({ key: stranger }).token, options())), "unknown_key");
  assert.equal(pick(verifyToken(forge(stranger, claims, { kid: EC.kid }), options())), "bad_signature", "a kid we know, signed by a key we do not");
  assert.ok(verifyToken(forge(EC, claims, { kid: undefined }), options()).ok);
  assert.equal(pick(verifyToken(forge(stranger, claims, { kid: undefined }), options())), "bad_signature");
  assert.equal(pick(verifyToken(issue().token, options({ keys: [] }))), "unknown_key");
});

test("keys embedded in a token header are ignored", () => {
  const stranger = ecKey();
  const jwk = stranger.publicKey.export({ format: "jwk" });
  const forged = forge(stranger, decodeParts(issue().token).claims, { kid: undefined, jwk });
  assert.equal(pick(verifyToken(forged, options())), "bad_signature");
});

test("malformed tokens and claims are refused, never thrown", () => {
  const { token } = issue();
  const [header, , signature] = token.split(".") as [string, string, string];
  const garbage = ["", ".", "..", "a.b", "a.b.c.d", "!!!.b.c", `${header}.x.${signature}`, "x".repeat(20_000), `${encodePart([1])}.e30.`, `${encodePart("str")}.e30.`, "e30.e30.e30"];
  for (const text of garbage) {
    const result = verifyToken(text, options());
    assert.equal(result.ok, false, text.slice(0, 30));
  }
  const bad: Record<string, unknown>[] = [
    { ...decodeParts(token).claims, exp: undefined },
    { ...decodeParts(token).claims, exp: "soon" },
    { ...decodeParts(token).claims, aud: undefined },
    { ...decodeParts(token).claims, aud: [1] },
    { ...decodeParts(token).claims, iss: undefined },
    { ...decodeParts(token).claims, sub: 5 },
    { ...decodeParts(token).claims, nbf: "now" },
    { ...decodeParts(token).claims, access: {} },
    { ...decodeParts(token).claims, access: [{ type: "repository", name: "a", actions: "pull" }] },
    { ...decodeParts(token).claims, access: [{ type: "repository", actions: ["pull"] }] },
  ];
  for (const claims of bad) assert.equal(pick(verifyToken(forge(EC, claims), options())), "malformed", JSON.stringify(claims).slice(0, 80));
  assert.equal(pick(verifyToken(forge(EC, decodeParts(token).claims, { crit: ["exp"] }), options())), "malformed");
  assert.ok(verifyToken(forge(EC, { ...decodeParts(token).claims, access: undefined, sub: undefined }), options()).ok, "no access and no sub: anonymous with nothing");
});

// ---------------------------------------------------------------------------------------------
// Keys and key ids

// Known vectors from realityone/libtrust-py's tests (tests/test_ec_key.py, tests/test_rsa_key.py
// with tests/fixtures/public.pem), a port of docker/libtrust whose key ids match Go's
// keyIDFromCryptoKey.
const LIBTRUST_EC_JWK = { kty: "EC", crv: "P-256", x: "4pBqYlc5IU5pJh5AOvijtEccStyJu0dSAiz4OlDGGFk", y: "OT70pUofsKlHEsqdWUUj-ZF-z5bqH-9oOTJ4mqBayyo" };
const LIBTRUST_EC_KID = "UEV2:PPF2:4DMU:WZYF:WOWU:677P:B7XU:SGFA:BMUG:NCTC:R7CL:XFKZ";
const LIBTRUST_RSA_PEM = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAwq1mCmgn460MC6MnCqra
nQNTgmKuKPl7bNH7Qc6hBDGHlnIjU6q/h2KXF37TC5Y9tsKvQ4b8jd0Sf0dXFHml
8qunSvNnqsSvoD8tSPUKqXS6jrlbGSQXhya7BL1RPGccD5K1xrV73QlI6uFPd3AP
RQYij5EOB8IOWEQujJk/8Mjc0EC9zvk5TUJb59hkOUPZ3CkvSBNLNS8wpQI98FRn
IzHjuaNicqve8054oxmDKifHWy0nnF135cXW8zkH3Zto1q89zD2g+zcVxLcRP84U
he0nSQyg7vEYl4Wl74Eo6/89qL2yE0mEiQN245ACA5B8WFV/t3j/OD3ydOCaAOg2
8vQtzcZ1gh2Ev4RxeR7bKq58g+R0+MMwl7nnW29mbCkcgdVVR4YPmglP7Vb6w7/N
bqFhnxx4E3A05AeevHdMdYCrtgQwogvIhdOHLcVQxJgwy1d2Lg/mv9rovhCJ7d3X
aNEYym6CplCHPMtfnU1LCVkA6b44pFaOVjsAQ8FviFtGXQAToRtwoszSarzslHKY
dPoSGFOsgNJgW67iViOYqGPD97rgJA0VPm0POMNHGw/R6o+08KhDF/OI1EDckmjX
hUggY/WCqWDxD77Ezd/wr9Zlbv/uSIEL9ifvBLq06lLcXMLrQbJrwMbDrngMZMAc
UkTzThmtxNs4uwu45R+zfKcCAwEAAQ==
-----END PUBLIC KEY-----
`;
const LIBTRUST_RSA_KID = "IIYO:OWAZ:MBMG:2SIK:IK2I:OP5Z:H6QR:KN6Y:QUGO:BUWN:TYW3:JXVW";

test("libtrust key ids match libtrust's own test vectors", () => {
  assert.equal(libtrustKeyId(createPublicKey({ key: LIBTRUST_EC_JWK, format: "jwk" })), LIBTRUST_EC_KID);
  assert.equal(libtrustKeyId(createPublicKey(LIBTRUST_RSA_PEM)), LIBTRUST_RSA_KID);
  assert.match(EC.kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/, "12 groups of 4 base32 digits");
  assert.equal(EC.kid, libtrustKeyId(EC.publicKey));
  assert.equal(libtrustKeyId(EC.privateKey), EC.kid, "a private key has its public key's id");
});

test("RFC 7638 thumbprint matches the RFC's own example", () => {
  // RFC 7638 section 3.1.
  const n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  const key = createPublicKey({ key: { kty: "RSA", n, e: "AQAB" }, format: "jwk" });
  assert.equal(jwkThumbprint(key), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
});

test("trusted keys load from PEM public keys, certificates, private keys and JWKS, under every id", () => {
  const pem = EC.publicKey.export({ type: "spki", format: "pem" }) as string;
  const [fromPem] = trustedKeysFrom(pem);
  assert.deepEqual(fromPem!.kids, [EC.kid, jwkThumbprint(EC.publicKey)]);
  assert.equal(fromPem!.alg, "ES256");

  const both = trustedKeysFrom(`${pem}\n${RSA.privateKey.export({ type: "pkcs1", format: "pem" })}`);
  assert.deepEqual(
    both.map((key) => key.alg),
    ["ES256", "RS256"],
  );
  assert.equal(both[1]!.kids[0], RSA.kid);

  const jwks = JSON.stringify({ keys: [{ ...EC.publicKey.export({ format: "jwk" }), kid: "my-key", use: "sig", alg: "ES256" }] });
  const [fromJwks] = trustedKeysFrom(jwks);
  assert.deepEqual(fromJwks!.kids, ["my-key", EC.kid, jwkThumbprint(EC.publicKey)]);
  const token = issueToken({ issuer: "auth.example", service: "registry.example", subject: "a", access: [], ttlSeconds: 60, key: { ...EC, kid: "my-key" }, now: NOW }).token;
  assert.ok(verifyToken(token, options({ keys: [fromJwks!] })).ok, "an external service's kid from its JWKS");

  assert.equal(trustedKeysFrom(JSON.stringify(RSA.publicKey.export({ format: "jwk" })))[0]!.alg, "RS256", "a single JWK");
  // toJwks round-trips.
  const exported = trustedKeysFrom(JSON.stringify(toJwks([EC, RSA])));
  assert.deepEqual(
    exported.map((key) => key.kids[0]),
    [EC.kid, RSA.kid],
  );
});

test("a certificate bundle, as distribution's rootcertbundle, trusts the key that signs", async (t) => {
  const files = await selfSignedCertificate(await tempDir(t));
  const signing = signingKeyFromPem(await readFile(files.key));
  const [trusted] = trustedKeysFrom(await readFile(files.cert), "bundle.pem");
  assert.equal(trusted!.kids[0], signing.kid);
  const token = issueToken({ issuer: "auth.example", service: "registry.example", subject: "a", access: ACCESS, ttlSeconds: 60, key: signing, now: NOW }).token;
  assert.ok(verifyToken(token, options({ keys: [trusted!] })).ok);
});

test("keys that cannot sign or verify ES256/RS256 are refused at load", () => {
  const refuse = (text: string, pattern: RegExp) => assert.throws(() => trustedKeysFrom(text, "keys.pem"), (error: unknown) => error instanceof AuthConfigError && pattern.test(error.message));
  const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey.export({ type: "spki", format: "pem" }) as string;
  refuse(p384, /EC key on secp384r1: only EC P-256/);
  const ed = generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "pem" }) as string;
  refuse(ed, /ed25519 key: only/);
  const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }) as string;
  refuse(small, /1024 bits: at least 2048/);
  refuse("", /neither PEM nor a JSON Web Key/);
  refuse("hello", /neither PEM nor a JSON Web Key/);
  refuse("{not json", /not valid JSON/);
  refuse('{"keys": []}', /holds no key/);
  refuse(JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }), /keys\[0\]/);
  refuse(JSON.stringify({ ...EC.publicKey.export({ format: "jwk" }), use: "enc" }), /only signature keys/);
  refuse(JSON.stringify({ ...EC.publicKey.export({ format: "jwk" }), alg: "HS256" }), /alg "HS256" does not fit/);
  refuse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", /PEM block 1 \(PUBLIC KEY\)/);
  assert.throws(() => signingKeyFromPem("nope"), /not a PEM private key/);
  const edPrivate = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" });
  assert.throws(() => signingKeyFromPem(edPrivate), /only EC P-256/);
});

test("a signing key's kid can be set; EC PARAMETERS blocks are skipped", () => {
  const pem = EC.privateKey.export({ type: "sec1", format: "pem" }) as string;
  assert.equal(signingKeyFromPem(pem, { kid: "k1" }).kid, "k1");
  assert.equal(trustedKeysFrom(`-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${pem}`)[0]!.kids[0], EC.kid);
});

/** A token with these claims, signed by `key`, header overrides applied (undefined removes). */
function forge(key: { alg: string; kid: string; privateKey: import("node:crypto").KeyObject }, claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const fullHeader: Record<string, unknown> = { typ: "JWT", alg: key.alg, kid: key.kid, ...header };
  for (const name of Object.keys(fullHeader)) if (fullHeader[name] === undefined) delete fullHeader[name];
  const input = `${encodePart(fullHeader)}.${encodePart(claims)}`;
  const signature = key.alg === "ES256" ? sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" }) : sign("sha256", Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString("base64url")}`;
}

function pick(result: ReturnType<typeof verifyToken>): string {
  return result.ok ? "ok" : result.reason;
}
