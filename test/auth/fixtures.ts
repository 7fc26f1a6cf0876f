import { generateKeyPairSync } from "node:crypto";
import { signingKeyFromPem, trustedKeyOf, type SigningKey } from "../../src/auth/keys.js";

/** Fresh keys for a test file: generated, never stored. */
export function ecKey(): SigningKey {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return signingKeyFromPem(privateKey.export({ type: "pkcs8", format: "pem" }));
}

export function rsaKey(bits = 2048): SigningKey {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits });
  return signingKeyFromPem(privateKey.export({ type: "pkcs8", format: "pem" }));
}

export { trustedKeyOf };

/** Splits a JWT into its decoded parts, for tests that tamper with them. */
export function decodeParts(token: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signature: string } {
  const [header, claims, signature] = token.split(".") as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(header, "base64url").toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(claims, "base64url").toString()) as Record<string, unknown>,
    signature,
  };
}

export function encodePart(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
