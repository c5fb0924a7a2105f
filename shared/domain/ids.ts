import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 text; rejection sampling keeps every character equally likely. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

/** Opaque, unguessable ids (~131 bits), prefixed by kind so a misplaced id is obvious in logs. */
export const newId = (prefix: 'tnt' | 'bot' | 'doc' | 'ses' | 'msg') => `${prefix}_${randomBase62(22)}`;

/** Base62 digits of a non-negative integer, left-padded with zeros to `width`. */
function base62Fixed(value: number, width: number): string {
  let out = '';
  let rest = Math.max(0, Math.floor(value));
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/**
 * Ids that sort by creation time, for records listed in that order from their sort key alone
 * (test questions oldest first, evaluation runs newest first): 8 base62 characters of the
 * creation time in milliseconds (enough until the year 8900), then 14 random ones (~83 bits, still
 * unguessable). They have the shape of every other id (ID_PATTERN); they tell when they were made,
 * which the records show anyway.
 */
export const newTimeOrderedId = (prefix: 'tqn' | 'evl', at: Date) =>
  `${prefix}_${base62Fixed(at.getTime(), 8)}${randomBase62(14)}`;

export const ID_PATTERN = /^[a-z]{3}_[0-9A-Za-z]{22}$/;
/** An admin key's id (the part between `pk_` and the secret). */
export const KEY_ID_PATTERN = /^[0-9A-Za-z]{16}$/;

/**
 * The session id of a messaging-channel user: derived, so each message finds its user's session
 * without a lookup. Not secret: the chat API never reaches a channel's session (chat.ts).
 */
export function channelSessionId(tenantId: string, botId: string, channel: string, userId: string): string {
  const digest = createHash('sha256').update(`${tenantId}\n${botId}\n${channel}\n${userId}`).digest();
  let id = '';
  for (let i = 0; i < 22; i++) id += ALPHABET[(digest[i] as number) % 62];
  return `ses_${id}`;
}

// Tenant admin keys: `pk_<keyId>_<secret>`. The key id locates the record; only the secret's
// SHA-256 is stored. A 256-bit random secret needs no slow hash: it cannot be guessed offline.
const KEY_PATTERN = /^pk_([0-9A-Za-z]{16})_([0-9A-Za-z]{43})$/;

export interface GeneratedKey {
  keyId: string;
  secret: string;
  apiKey: string;
  secretHash: string;
  /** What lists show: enough to recognise a key, too little to use it. */
  prefix: string;
}

export function generateApiKey(): GeneratedKey {
  const keyId = randomBase62(16);
  const secret = randomBase62(43);
  return {
    keyId,
    secret,
    apiKey: `pk_${keyId}_${secret}`,
    secretHash: sha256Hex(secret),
    prefix: `pk_${keyId}_${secret.slice(0, 4)}`,
  };
}

export function parseApiKey(value: string): { keyId: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(value);
  return match?.[1] && match[2] ? { keyId: match[1], secret: match[2] } : undefined;
}

export const API_KEY_TEXT_PATTERN = /pk_[0-9A-Za-z]{16}_[0-9A-Za-z]{43}/g;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Compares two secrets without leaking where they differ: both are hashed to equal length first. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Compares a presented secret with a stored SHA-256 hex digest in constant time. */
export function matchesHash(secret: string, storedHex: string): boolean {
  const stored = Buffer.from(storedHex, 'hex');
  const presented = createHash('sha256').update(secret).digest();
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}
