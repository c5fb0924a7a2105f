import {
  DecryptCommand,
  GenerateDataKeyCommand,
  type GenerateDataKeyCommandOutput,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { type SecretBox, SecretBoxError } from '../../ports/secret-box.ts';
import {
  contextAad,
  decryptWithKey,
  encryptWithKey,
  formatSealed,
  KEY_BYTES,
  parseSealed,
  registerOpenedSecret,
} from './aes-gcm.ts';

// KMS envelope encryption: each sealed value has its own data key from GenerateDataKey, used
// locally (AES-256-GCM) and stored encrypted beside the ciphertext. The context goes to KMS as
// the EncryptionContext (so key policies and CloudTrail see it) and into GCM as the AAD.

export interface KmsSecretBoxOptions {
  client: KMSClient;
  /** Key id, key ARN, alias name (`alias/…`) or alias ARN of a symmetric encryption key. */
  keyId: string;
  /** How long a decrypted data key is reused (default 5 minutes). */
  cacheTtlMs?: number;
  /** The most data keys kept at once (default 100); the least recently used goes first. */
  maxCachedKeys?: number;
  /** Epoch milliseconds; injectable so tests can expire the cache. */
  now?: () => number;
}

const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
]);
const INVALID_CIPHERTEXT = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
const KEY_NOT_USABLE = new Set([
  'DisabledException',
  'KMSInvalidStateException',
  'NotFoundException',
  'InvalidKeyUsageException',
]);
const UNAVAILABLE = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'KeyUnavailableException',
  'DependencyTimeoutException',
  'LimitExceededException',
  'TimeoutError',
]);

/** A KMS failure as a SecretBoxError whose message says what kind of failure it was. */
function kmsError(operation: 'GenerateDataKey' | 'Decrypt', error: unknown): SecretBoxError {
  const name = error instanceof Error ? error.name : 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  let reason: string;
  if (ACCESS_DENIED.has(name)) reason = 'access denied';
  else if (INVALID_CIPHERTEXT.has(name))
    reason = 'invalid ciphertext (tampered with, sealed with another key, or the context differs)';
  else if (KEY_NOT_USABLE.has(name))
    reason = 'the key is not usable (disabled, pending deletion or not found)';
  // No status: the request never got an answer (network error, timeout).
  else if (UNAVAILABLE.has(name) || status === undefined || status >= 500) reason = 'KMS unavailable';
  else reason = 'request rejected';
  return new SecretBoxError(`KMS ${operation} failed: ${reason} (${name})`, { cause: error });
}

/** A KMS data key in a Buffer of our own (zeroed when done with), the SDK's copy zeroed. */
function takeDataKey(sdkKey: Uint8Array | undefined, operation: 'GenerateDataKey' | 'Decrypt'): Buffer {
  if (sdkKey?.length !== KEY_BYTES) {
    sdkKey?.fill(0);
    throw new SecretBoxError(`KMS ${operation} returned no usable data key`);
  }
  const key = Buffer.from(sdkKey);
  sdkKey.fill(0);
  return key;
}

/**
 * Decrypted data keys for `ttlMs`, at most `maxKeys` of them (least recently used out first);
 * a key leaving the cache is zeroed.
 */
function createDataKeyCache(ttlMs: number, maxKeys: number, now: () => number) {
  const cache = new Map<string, { key: Buffer; expiresAt: number }>();
  const evict = (cacheKey: string) => {
    cache.get(cacheKey)?.key.fill(0);
    cache.delete(cacheKey);
  };
  return {
    get(cacheKey: string): Buffer | undefined {
      const entry = cache.get(cacheKey);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        evict(cacheKey);
        return undefined;
      }
      cache.delete(cacheKey); // re-inserted last: Map order is the LRU order
      cache.set(cacheKey, entry);
      return entry.key;
    },
    remember(cacheKey: string, key: Buffer) {
      if (cache.has(cacheKey)) evict(cacheKey);
      cache.set(cacheKey, { key, expiresAt: now() + ttlMs });
      for (const oldest of cache.keys()) {
        if (cache.size <= maxKeys) break;
        evict(oldest);
      }
    },
  };
}

/**
 * The AWS SecretBox. Sealed values look like `v1.kms.<encrypted data key>.<iv>.<ciphertext+tag>`
 * (base64url). Decrypted data keys are cached briefly so a warm function opening the same
 * credentials for every message calls KMS once per value, not once per message.
 */
export function createKmsSecretBox(options: KmsSecretBoxOptions): SecretBox {
  const { client, keyId } = options;
  if (!keyId) throw new SecretBoxError('The KMS secret box needs a key id');
  // Keyed by encrypted data key AND context: KMS authorises a Decrypt per context (key policies
  // can condition on it), so a key decrypted for one context must not be reused for another.
  const cache = createDataKeyCache(
    options.cacheTtlMs ?? 5 * 60_000,
    options.maxCachedKeys ?? 100,
    options.now ?? Date.now,
  );

  return {
    async seal(plaintext, context) {
      const aad = contextAad(context);
      let result: GenerateDataKeyCommandOutput;
      try {
        result = await client.send(
          new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
        );
      } catch (error) {
        throw kmsError('GenerateDataKey', error);
      }
      const { Plaintext: sdkKey, CiphertextBlob: encryptedKey } = result;
      if (!encryptedKey?.length) {
        sdkKey?.fill(0);
        throw new SecretBoxError('KMS GenerateDataKey returned no usable data key');
      }
      const dataKey = takeDataKey(sdkKey, 'GenerateDataKey');
      try {
        const { iv, body } = encryptWithKey(dataKey, plaintext, aad);
        registerOpenedSecret(plaintext);
        return formatSealed('kms', [Buffer.from(encryptedKey), iv, body]);
      } finally {
        dataKey.fill(0); // the plaintext data key lives no longer than this seal
      }
    },

    async open(sealed, context) {
      const [encryptedKey, iv, body] = parseSealed(sealed, 'kms', 3) as [Buffer, Buffer, Buffer];
      const aad = contextAad(context);
      const cacheKey = `${sealed.split('.')[2]}\n${aad.toString('utf8')}`;
      let dataKey = cache.get(cacheKey);
      if (!dataKey) {
        let sdkKey: Uint8Array | undefined;
        try {
          ({ Plaintext: sdkKey } = await client.send(
            new DecryptCommand({
              CiphertextBlob: encryptedKey,
              EncryptionContext: { ...context },
              KeyId: keyId,
            }),
          ));
        } catch (error) {
          throw kmsError('Decrypt', error);
        }
        dataKey = takeDataKey(sdkKey, 'Decrypt');
        cache.remember(cacheKey, dataKey);
      }
      // Synchronous from the cache lookup on: no other open can evict (and zero) this key meanwhile.
      const plaintext = decryptWithKey(dataKey, iv, body, aad);
      registerOpenedSecret(plaintext);
      return plaintext;
    },
  };
}
