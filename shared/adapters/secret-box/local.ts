import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { registerSecret } from '../../logging.ts';
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

// AES-256-GCM with a key kept in a file in the data dir (the local platform's SecretBox); the
// sealing itself is aes-gcm.ts's, shared with the KMS adapter.

const KEY_FILE_TEXT = /^[A-Za-z0-9+/]{43}=$/;

async function readKeyFile(keyFile: string): Promise<Buffer> {
  let text: string;
  try {
    text = (await readFile(keyFile, 'utf8')).trim();
  } catch (error) {
    throw new SecretBoxError(`Could not read the local secret key file ${keyFile}`, { cause: error });
  }
  if (!KEY_FILE_TEXT.test(text))
    throw new SecretBoxError(
      `The local secret key file ${keyFile} is malformed: expected ${KEY_BYTES} bytes in base64. ` +
        'Restore it from a backup; delete it only if no stored secret was sealed with it (they cannot be opened without it).',
    );
  registerSecret(text);
  return Buffer.from(text, 'base64');
}

/** Reads the key file, creating it (mode 0600) with a random key when it does not exist yet. */
async function loadOrCreateKey(keyFile: string): Promise<Buffer> {
  try {
    return await readKeyFile(keyFile);
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== 'ENOENT') throw error;
  }
  const key = randomBytes(KEY_BYTES);
  const staging = `${keyFile}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
    await writeFile(staging, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    // link, unlike rename, fails when the file exists: a process that lost the race to create
    // the key uses the winner's key instead of replacing it (values sealed with it would be lost).
    await link(staging, keyFile);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') {
      await unlink(staging).catch(() => undefined);
      throw new SecretBoxError(`Could not create the local secret key file ${keyFile}`, { cause: error });
    }
    await unlink(staging).catch(() => undefined);
    key.fill(0);
    return readKeyFile(keyFile);
  }
  await unlink(staging).catch(() => undefined);
  registerSecret(key.toString('base64'));
  return key;
}

/**
 * The local platform's SecretBox: AES-256-GCM with a 32-byte key kept (base64) in `keyFile`,
 * created with mode 0600 on first use. Losing the file loses every value sealed with it.
 * Sealed values look like `v1.local.<iv>.<ciphertext+tag>` (base64url).
 */
export function createLocalSecretBox(keyFile: string): SecretBox {
  let key: Promise<Buffer> | undefined;
  const getKey = (): Promise<Buffer> => {
    key ??= loadOrCreateKey(keyFile).catch((error: unknown) => {
      key = undefined; // a fixed file is picked up on the next call
      throw error;
    });
    return key;
  };
  return {
    async seal(plaintext, context) {
      const aad = contextAad(context);
      const { iv, body } = encryptWithKey(await getKey(), plaintext, aad);
      registerOpenedSecret(plaintext);
      return formatSealed('local', [iv, body]);
    },
    async open(sealed, context) {
      const [iv, body] = parseSealed(sealed, 'local', 2) as [Buffer, Buffer];
      const plaintext = decryptWithKey(await getKey(), iv, body, contextAad(context));
      registerOpenedSecret(plaintext);
      return plaintext;
    },
  };
}
