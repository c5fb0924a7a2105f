/**
 * Encrypts secrets (channel credentials) before they are stored, and opens them again. `context`
 * binds a sealed value to where it belongs (tenant, bot, channel): opening it with another
 * context fails, so a sealed value copied to another record is useless. KMS envelope encryption
 * in AWS; AES-256-GCM with a key in the data dir locally.
 */
export interface SecretBox {
  /** An opaque, self-describing string safe to store. */
  seal(plaintext: string, context: Readonly<Record<string, string>>): Promise<string>;
  /** The plaintext; throws `SecretBoxError` when the value was tampered with or the context differs. */
  open(sealed: string, context: Readonly<Record<string, string>>): Promise<string>;
}

export class SecretBoxError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretBoxError';
  }
}
