import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { secretsEqual } from '../domain/ids.ts';

// How a webhook delivery proves it comes from the platform (DESIGN §5). Meta signs the raw request
// bytes with the app secret; Telegram echoes the secret token given to `setWebhook`. Every check
// answers a plain boolean, so the webhook can reject with 401 before it parses or stores anything.

/** `sha256=` (lowercase, as Meta sends it) and the 32-byte HMAC in hex. */
const META_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks Meta's `X-Hub-Signature-256` header: HMAC-SHA256 of the raw body with the app secret.
 * `rawBody` must be the bytes as received (base64-decoded when API Gateway encoded them): Meta
 * escapes non-ASCII characters as `\uXXXX`, so re-serialised JSON would not match.
 */
export function verifyMetaSignature(
  rawBody: Uint8Array,
  header: string | undefined,
  appSecret: string,
): boolean {
  // An empty secret would make the signature forgeable by anyone: never accept it.
  if (typeof header !== 'string' || appSecret.length === 0) return false;
  const hex = META_SIGNATURE.exec(header)?.[1];
  if (!hex) return false;
  const presented = Buffer.from(hex, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** Checks Telegram's `X-Telegram-Bot-Api-Secret-Token` header against the token set on the webhook. */
export function verifyTelegramSecret(header: string | undefined, expected: string): boolean {
  if (typeof header !== 'string' || header.length === 0 || expected.length === 0) return false;
  return secretsEqual(header, expected);
}

/** Meta's challenge is a number; anything else is refused rather than echoed back. */
const CHALLENGE = /^[A-Za-z0-9._-]{1,256}$/;

export type MetaHandshakeResult = { ok: true; challenge: string } | { ok: false };

/**
 * Meta's subscription handshake: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
 * When the token matches the channel's verify token, the webhook answers 200 with the challenge as
 * plain text; otherwise 403.
 */
export function metaHandshake(
  query: Record<string, string | undefined>,
  verifyToken: string,
): MetaHandshakeResult {
  const mode = query['hub.mode'];
  const token = query['hub.verify_token'];
  const challenge = query['hub.challenge'];
  if (mode !== 'subscribe' || verifyToken.length === 0) return { ok: false };
  if (typeof token !== 'string' || token.length === 0 || !secretsEqual(token, verifyToken))
    return { ok: false };
  if (typeof challenge !== 'string' || !CHALLENGE.test(challenge)) return { ok: false };
  return { ok: true, challenge };
}

/**
 * A secret token for Telegram's `setWebhook`: Telegram allows 1–256 characters of `A-Za-z0-9_-`,
 * which base64url is. 32 random bytes give 43 characters.
 */
export function newTelegramSecretToken(): string {
  return randomBytes(32).toString('base64url');
}
