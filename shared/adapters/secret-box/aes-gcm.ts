import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { registerContextSecret } from '../../logging.ts';
import { SecretBoxError } from '../../ports/secret-box.ts';

// The sealing primitives both SecretBoxes share (local.ts with a key file, kms.ts with KMS data
// keys): AES-256-GCM where the context is the additional authenticated data, so a value opens
// only under the context it was sealed with, and the `v1.<kind>.<parts…>` string format.

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type SealedKind = 'local' | 'kms';
type Context = Readonly<Record<string, string>>;

/** The context as canonical bytes: sorted `key=value` pairs, percent-encoded so no pair can forge another. */
export function contextAad(context: Context): Buffer {
  if (typeof context !== 'object' || context === null)
    throw new SecretBoxError('The secret context must be an object of strings');
  const entries = Object.entries(context);
  for (const [, value] of entries)
    if (typeof value !== 'string')
      throw new SecretBoxError('The secret context must be an object of strings');
  // Code-unit order, not localeCompare: the bytes must not depend on the runtime's locale.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(
    entries.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&'),
    'utf8',
  );
}

/** Encrypts with a fresh random IV; returns the IV and the ciphertext followed by the GCM tag. */
export function encryptWithKey(key: Buffer, plaintext: string, aad: Buffer): { iv: Buffer; body: Buffer } {
  if (typeof plaintext !== 'string') throw new SecretBoxError('Only strings can be sealed');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { iv, body };
}

export function decryptWithKey(key: Buffer, iv: Buffer, body: Buffer, aad: Buffer): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    const plaintext = Buffer.concat([
      decipher.update(body.subarray(0, body.length - TAG_BYTES)),
      decipher.final(),
    ]);
    return plaintext.toString('utf8');
  } catch (error) {
    throw new SecretBoxError(
      'Could not open the sealed secret: it was tampered with, or it was sealed with another key or context',
      { cause: error },
    );
  }
}

export function formatSealed(kind: SealedKind, parts: readonly Buffer[]): string {
  return [FORMAT_VERSION, kind, ...parts.map((part) => part.toString('base64url'))].join('.');
}

/**
 * The binary parts of a sealed string of this kind, with the IV and ciphertext (always the last
 * two) checked for shape. Never puts the sealed value itself into an error message.
 */
export function parseSealed(sealed: string, kind: SealedKind, partCount: number): Buffer[] {
  if (typeof sealed !== 'string') throw new SecretBoxError('A sealed secret must be a string');
  const fields = sealed.split('.');
  if (fields[0] !== FORMAT_VERSION)
    throw new SecretBoxError(
      `Not a sealed secret of a supported format (expected ${FORMAT_VERSION}.${kind}.…)`,
    );
  if (fields[1] !== kind) {
    const other =
      fields[1] === 'local' || fields[1] === 'kms' ? ` (it was sealed by the ${fields[1]} box)` : '';
    throw new SecretBoxError(`Not a sealed secret of this box: expected ${FORMAT_VERSION}.${kind}.…${other}`);
  }
  const encoded = fields.slice(2);
  if (encoded.length !== partCount)
    throw new SecretBoxError(`Malformed sealed secret (${FORMAT_VERSION}.${kind})`);
  const parts = encoded.map((text) => {
    const bytes = BASE64URL.test(text) ? Buffer.from(text, 'base64url') : undefined;
    // Canonical encodings only, so that every change to the string is a change to the bytes.
    if (!bytes || bytes.toString('base64url') !== text)
      throw new SecretBoxError(`Malformed sealed secret (${FORMAT_VERSION}.${kind}): not base64url`);
    return bytes;
  });
  const iv = parts[partCount - 2];
  const body = parts[partCount - 1];
  if (iv?.length !== IV_BYTES || !body || body.length < TAG_BYTES)
    throw new SecretBoxError(
      `Malformed sealed secret (${FORMAT_VERSION}.${kind}): wrong IV or ciphertext length`,
    );
  return parts;
}

/**
 * Masks an opened secret in the rest of its request's logs: the value itself and, when it is JSON
 * (channel credentials are), each string in it, since a log line would hold a token rather than
 * the JSON.
 */
export function registerOpenedSecret(plaintext: string): void {
  registerContextSecret(plaintext);
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return;
  }
  const visit = (value: unknown): void => {
    if (typeof value === 'string') registerContextSecret(value);
    else if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(visit);
  };
  if (typeof parsed === 'object') visit(parsed);
}
