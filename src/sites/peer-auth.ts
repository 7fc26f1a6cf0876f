import { createHash, timingSafeEqual } from "node:crypto";

/**
 * The shared secret, checked in constant time: both sides are hashed first, so neither the
 * comparison's time nor a length check tells an attacker how much of a guess was right.
 */
export function secretChecker(secret: string): (authorization: string | undefined) => boolean {
  const expected = createHash("sha256").update(`Bearer ${secret}`).digest();
  return (authorization) => authorization !== undefined && timingSafeEqual(createHash("sha256").update(authorization).digest(), expected);
}

export function authorizationHeader(secret: string): string {
  return `Bearer ${secret}`;
}
