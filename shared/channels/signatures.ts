import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { secretsEqual } from '../domain/ids.ts';

// How a webhook delivery proves it comes from the platform (DESIGN §5), the pieces the kinds'
// `verify` use: a secret the platform echoes in a header, or an HMAC of the raw request bytes.
// Every check answers a plain boolean, so the webhook can reject with 401 before it parses or
// stores anything; every comparison takes constant time.

/** A header that must carry `expected` (a secret token given to the platform), compared in constant time. */
export function secretHeaderMatches(header: string | undefined, expected: string): boolean {
  if (typeof header !== 'string' || header.length === 0 || expected.length === 0) return false;
  return secretsEqual(header, expected);
}

/**
 * Whether `hex` is the HMAC-SHA256 of `rawBody` with `secret`. `rawBody` must be the bytes as
 * received (base64-decoded when API Gateway encoded them): re-serialised JSON would not match.
 */
export function hmacSha256Matches(rawBody: Uint8Array, hex: string, secret: string): boolean {
  // An empty secret would make the signature forgeable by anyone: never accept it.
  if (secret.length === 0 || !/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const presented = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/**
 * A secret token for a platform to echo: 32 random bytes in base64url (43 characters of
 * `A-Za-z0-9_-`, which Telegram's 1–256 allowed characters include).
 */
export function newSecretToken(): string {
  return randomBytes(32).toString('base64url');
}
