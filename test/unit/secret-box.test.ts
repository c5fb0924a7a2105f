// The SecretBox adapters: the local one (AES-256-GCM, key file) directly, and the KMS one through
// the REAL `@aws-sdk/client-kms` client with its endpoint at a local server that speaks KMS's
// JSON protocol with real crypto inside (test/support/wire/kms-server.ts).

import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { createKmsSecretBox } from '../../shared/adapters/secret-box/kms.ts';
import { createLocalSecretBox } from '../../shared/adapters/secret-box/local.ts';
import { maskText, withLogContext } from '../../shared/logging.ts';
import { type SecretBox, SecretBoxError } from '../../shared/ports/secret-box.ts';
import { type KmsWireServer, startKmsServer } from '../support/wire/kms-server.ts';

let server: KmsWireServer;
let client: KMSClient;
/** For failures the SDK would otherwise retry with backoff. */
let onceClient: KMSClient;
let dir: string;

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const kmsClient = (endpoint: string, maxAttempts?: number) =>
  new KMSClient({ region: 'us-east-1', endpoint, credentials, ...(maxAttempts ? { maxAttempts } : {}) });

beforeAll(async () => {
  server = await startKmsServer();
  client = kmsClient(server.url);
  onceClient = kmsClient(server.url, 1);
  dir = await mkdtemp(join(tmpdir(), 'parley-secret-box-'));
});
afterAll(async () => {
  client.destroy();
  onceClient.destroy();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.requests.length = 0;
});

const context = { tenantId: 'ten_01J9ZK4T8Y', botId: 'bot_01J9ZK5B2C', channel: 'telegram' };
const credentialsJson = JSON.stringify({
  credentials: { botToken: '123456789:AAH4x-secret_Telegram_token_value' },
  webhookSecret: 'whsec-0f3c2a9d8e7b6a5c',
});
const decrypts = () => server.requests.filter((r) => r.operation === 'Decrypt').length;

/** `sealed` with one character of its `index`-th dot-separated part replaced by another base64url character. */
function tamper(sealed: string, index: number): string {
  const fields = sealed.split('.');
  const part = fields[index] ?? '';
  const at = Math.floor(part.length / 2);
  fields[index] = `${part.slice(0, at)}${part[at] === 'A' ? 'B' : 'A'}${part.slice(at + 1)}`;
  return fields.join('.');
}

/** The SecretBoxError a promise rejects with (failing the test if it resolves or throws anything else). */
async function secretBoxError(promise: Promise<unknown>): Promise<SecretBoxError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SecretBoxError);
  return error as SecretBoxError;
}

/** Neither the message nor the cause chain of an error mentions the text. */
function expectNotMentioned(error: Error, text: string): void {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    expect(e.message).not.toContain(text);
    expect(String(e.stack)).not.toContain(text);
  }
}

const boxes: [kind: 'local' | 'kms', make: () => SecretBox, parts: number][] = [
  ['local', () => createLocalSecretBox(join(dir, 'shared.key')), 4],
  ['kms', () => createKmsSecretBox({ client, keyId: server.keyArn }), 5],
];

describe.each(boxes)('%s SecretBox', (kind, makeBox, partCount) => {
  test('round trip: plain, unicode, empty and a large JSON value; the sealed string is versioned and opaque', async () => {
    const box = makeBox();
    const large = JSON.stringify({
      credentials: { accessToken: `EAAG${randomBytes(600).toString('base64url')}` },
      items: Array.from({ length: 3000 }, (_, i) => ({ i, note: `entry ${i} — naïve café ☕ 𝄞` })),
    });
    expect(large.length).toBeGreaterThan(100_000);
    for (const plaintext of [credentialsJson, 'Grüße 👋 日本語 עברית \u0000 \n\t "quoted"', '', large]) {
      const sealed = await box.seal(plaintext, context);
      expect(sealed.startsWith(`v1.${kind}.`)).toBe(true);
      expect(sealed.split('.')).toHaveLength(partCount);
      expect(sealed).toMatch(/^[A-Za-z0-9_.-]+$/);
      if (plaintext.length > 0) expect(sealed).not.toContain(plaintext);
      await expect(box.open(sealed, context)).resolves.toBe(plaintext);
    }
  });

  test('every seal differs (random IV), and each opens', async () => {
    const box = makeBox();
    const sealed = await Promise.all(Array.from({ length: 5 }, () => box.seal(credentialsJson, context)));
    expect(new Set(sealed).size).toBe(5);
    expect(new Set(sealed.map((s) => s.split('.').at(-2))).size).toBe(5);
    for (const s of sealed) await expect(box.open(s, context)).resolves.toBe(credentialsJson);
  });

  test('the context binds: order does not matter, any other context fails', async () => {
    const box = makeBox();
    const sealed = await box.seal(credentialsJson, context);
    const reordered = { channel: 'telegram', botId: context.botId, tenantId: context.tenantId };
    await expect(box.open(sealed, reordered)).resolves.toBe(credentialsJson);
    const others: Record<string, string>[] = [
      { ...context, botId: 'bot_other' },
      { ...context, extra: 'x' },
      { tenantId: context.tenantId, botId: context.botId },
      {},
    ];
    for (const other of others) {
      const error = await secretBoxError(box.open(sealed, other));
      expectNotMentioned(error, credentialsJson);
    }
    // Pairs that a naive `k=v&k=v` join would make equal.
    const split = await box.seal('pairs', { a: 'b&c=d' });
    await secretBoxError(box.open(split, { a: 'b', c: 'd' }));
    await expect(box.open(split, { a: 'b&c=d' })).resolves.toBe('pairs');
  });

  test('a tampered IV or ciphertext fails, as does a truncated one', async () => {
    const box = makeBox();
    const sealed = await box.seal(credentialsJson, context);
    const fields = sealed.split('.');
    for (const index of [partCount - 2, partCount - 1]) {
      const error = await secretBoxError(box.open(tamper(sealed, index), context));
      expectNotMentioned(error, credentialsJson);
    }
    const truncated = [...fields.slice(0, -1), (fields.at(-1) ?? '').slice(0, -4)].join('.');
    await secretBoxError(box.open(truncated, context));
    await expect(box.open(sealed, context)).resolves.toBe(credentialsJson);
  });

  test('garbage, wrong versions and the other box’s values fail with SecretBoxError before any KMS call', async () => {
    const box = makeBox();
    const other = kind === 'local' ? 'kms' : 'local';
    const sealed = await box.seal('value', context);
    server.requests.length = 0;
    const rest = sealed.split('.').slice(2).join('.');
    const garbage = [
      '',
      'hello',
      'v1',
      `v1.${kind}`,
      `v2.${kind}.${rest}`,
      `V1.${kind}.${rest}`,
      `v1.${other}.${rest}`,
      `v1.${kind}.${rest}.extra`,
      `v1.${kind}.${rest.replaceAll('-', '+')}!`,
      `v1.${kind}.${'A'.repeat(rest.length)}`,
      '{"credentials":{}}',
      `${sealed}=`,
    ];
    for (const value of garbage) {
      const error = await secretBoxError(box.open(value, context));
      if (value.length > 8) expect(error.message).not.toContain(value);
    }
    const wrongBox = await secretBoxError(box.open(`v1.${other}.${rest}`, context));
    expect(wrongBox.message).toContain(`v1.${kind}`);
    expect(decrypts()).toBe(0);
  });

  test('opened secrets are masked in the rest of their log context, JSON credentials field by field', async () => {
    const box = makeBox();
    const token = `123456789:AAH${randomBytes(16).toString('hex')}`;
    const plaintext = JSON.stringify({ credentials: { botToken: token }, webhookSecret: 'whsec-a1b2c3d4e5' });
    const sealed = await box.seal(plaintext, context);
    await withLogContext(async () => {
      await box.open(sealed, context);
      expect(
        maskText(`sendMessage failed for https://api.telegram.org/bot${token}/sendMessage`),
      ).not.toContain(token);
      expect(maskText('secret_token=whsec-a1b2c3d4e5')).not.toContain('whsec-a1b2c3d4e5');
    });
  });
});

describe('local SecretBox key file', () => {
  test('is created on first use with mode 0600 in a new directory, holding 32 random bytes in base64', async () => {
    const keyFile = join(dir, 'created', 'nested', 'secret-box.key');
    const box = createLocalSecretBox(keyFile);
    const sealed = await box.seal('value', context);
    const info = await stat(keyFile);
    expect(info.mode & 0o777).toBe(0o600);
    const text = await readFile(keyFile, 'utf8');
    expect(text).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(Buffer.from(text.trim(), 'base64')).toHaveLength(32);
    await expect(box.open(sealed, context)).resolves.toBe('value');
  });

  test('is reused across instances, and a box with another key file cannot open', async () => {
    const keyFile = join(dir, 'reused.key');
    const sealed = await createLocalSecretBox(keyFile).seal(credentialsJson, context);
    const before = await readFile(keyFile, 'utf8');
    await expect(createLocalSecretBox(keyFile).open(sealed, context)).resolves.toBe(credentialsJson);
    expect(await readFile(keyFile, 'utf8')).toBe(before);
    const error = await secretBoxError(createLocalSecretBox(join(dir, 'another.key')).open(sealed, context));
    expectNotMentioned(error, credentialsJson);
  });

  test('two instances creating it at once end up with the same key', async () => {
    const keyFile = join(dir, 'race', 'secret-box.key');
    const [a, b] = [createLocalSecretBox(keyFile), createLocalSecretBox(keyFile)];
    const [fromA, fromB] = await Promise.all([a.seal('from a', context), b.seal('from b', context)]);
    await expect(b.open(fromA, context)).resolves.toBe('from a');
    await expect(a.open(fromB, context)).resolves.toBe('from b');
  });

  test('a malformed key file is a clear error naming the file, and is left alone; a fixed file is then used', async () => {
    const keyFile = join(dir, 'malformed.key');
    for (const content of ['not a key\n', `${randomBytes(16).toString('base64')}\n`, '']) {
      await writeFile(keyFile, content, { mode: 0o600 });
      const box = createLocalSecretBox(keyFile);
      const error = await secretBoxError(box.seal('value', context));
      expect(error.message).toContain(keyFile);
      expect(error.message).toMatch(/malformed/);
      await secretBoxError(box.open('v1.local.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA', context));
      expect(await readFile(keyFile, 'utf8')).toBe(content);
    }
    const box = createLocalSecretBox(keyFile);
    await secretBoxError(box.seal('value', context));
    await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`);
    await expect(box.open(await box.seal('value', context), context)).resolves.toBe('value');
  });

  test('an unreadable key file is an error naming the file', async () => {
    const keyFile = join(dir, 'a-directory.key');
    await mkdir(keyFile);
    const error = await secretBoxError(createLocalSecretBox(keyFile).seal('value', context));
    expect(error.message).toContain(keyFile);
  });
});

describe('KMS SecretBox', () => {
  test('seal asks KMS for an AES_256 data key under the context; open decrypts it with context and key id', async () => {
    const box = createKmsSecretBox({ client, keyId: server.keyArn });
    const sealed = await box.seal(credentialsJson, context);
    expect(server.requests).toHaveLength(1);
    const [generate] = server.requests;
    expect(generate?.operation).toBe('GenerateDataKey');
    expect(generate?.headers['x-amz-target']).toBe('TrentService.GenerateDataKey');
    expect(generate?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(generate?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/kms\//,
    );
    expect(generate?.body).toEqual({ KeyId: server.keyArn, KeySpec: 'AES_256', EncryptionContext: context });

    await expect(box.open(sealed, context)).resolves.toBe(credentialsJson);
    const decrypt = server.requests[1];
    expect(decrypt?.operation).toBe('Decrypt');
    expect(decrypt?.body).toEqual({
      CiphertextBlob: Buffer.from(sealed.split('.')[2] ?? '', 'base64url').toString('base64'),
      EncryptionContext: context,
      KeyId: server.keyArn,
    });
  });

  test('an alias works as the key id', async () => {
    const box = createKmsSecretBox({ client, keyId: server.keyAlias });
    await expect(box.open(await box.seal('via alias', context), context)).resolves.toBe('via alias');
  });

  test('decrypted data keys are cached per value and context, for the TTL, least recently used evicted', async () => {
    let now = 1_000_000;
    const box = createKmsSecretBox({ client, keyId: server.keyArn, maxCachedKeys: 2, now: () => now });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((v) => box.seal(v, context)));
    const [sa, sb, sc] = [a ?? '', b ?? '', c ?? ''];
    await expect(box.open(sa, context)).resolves.toBe('a');
    await expect(box.open(sa, context)).resolves.toBe('a');
    await expect(createKmsSecretBox({ client, keyId: server.keyArn }).open(sa, context)).resolves.toBe('a');
    expect(decrypts()).toBe(2); // once per box: the second open of the first box was cached

    // Another context is KMS's decision to make, not the cache's.
    const other = await secretBoxError(box.open(sa, { ...context, botId: 'bot_other' }));
    expect(other.message).toMatch(/invalid ciphertext/);
    expect(decrypts()).toBe(3);

    await box.open(sb, context); // cache: a, b
    await box.open(sa, context); // a is now the most recently used
    await box.open(sc, context); // evicts b
    expect(decrypts()).toBe(5);
    await box.open(sa, context);
    await box.open(sc, context);
    expect(decrypts()).toBe(5);
    await box.open(sb, context);
    expect(decrypts()).toBe(6);

    now += 5 * 60_000;
    await box.open(sb, context);
    expect(decrypts()).toBe(7);
  });

  test('wrong context, tampered encrypted key and another KMS key fail as invalid ciphertext', async () => {
    const box = createKmsSecretBox({ client, keyId: server.keyArn });
    const sealed = await box.seal(credentialsJson, context);
    const wrongContext = await secretBoxError(box.open(sealed, { ...context, tenantId: 'ten_other' }));
    expect(wrongContext.message).toMatch(
      /^KMS Decrypt failed: invalid ciphertext .*\(InvalidCiphertextException\)$/,
    );
    expect((wrongContext.cause as Error).name).toBe('InvalidCiphertextException');

    const tampered = await secretBoxError(box.open(tamper(sealed, 2), context));
    expect(tampered.message).toMatch(/invalid ciphertext/);

    const otherKeyBox = createKmsSecretBox({ client, keyId: server.createKey() });
    const otherKey = await secretBoxError(otherKeyBox.open(sealed, context));
    expect(otherKey.message).toMatch(/invalid ciphertext .*\(IncorrectKeyException\)/);
    for (const error of [wrongContext, tampered, otherKey]) expectNotMentioned(error, credentialsJson);
  });

  test('access denied on seal or open is a SecretBoxError that says so, with the KMS error as cause', async () => {
    const box = createKmsSecretBox({ client, keyId: server.keyArn });
    const sealed = await box.seal(credentialsJson, context);
    server.failNext(1, { kind: 'access_denied' }, 'Decrypt');
    const onOpen = await secretBoxError(box.open(sealed, context));
    expect(onOpen.message).toBe('KMS Decrypt failed: access denied (AccessDeniedException)');
    expect((onOpen.cause as Error).name).toBe('AccessDeniedException');
    expect((onOpen.cause as Error).message).toMatch(/is not authorized to perform: kms:Decrypt/);
    expectNotMentioned(onOpen, credentialsJson);

    server.failNext(1, { kind: 'access_denied' });
    const onSeal = await secretBoxError(box.seal(credentialsJson, context));
    expect(onSeal.message).toBe('KMS GenerateDataKey failed: access denied (AccessDeniedException)');
    expectNotMentioned(onSeal, credentialsJson);
    // The denied open was not cached as anything: it works once KMS allows it.
    await expect(box.open(sealed, context)).resolves.toBe(credentialsJson);
  });

  test('throttling, internal errors and an unreachable KMS are "unavailable"; a disabled key is "not usable"', async () => {
    const box = createKmsSecretBox({ client: onceClient, keyId: server.keyArn });
    const sealed = await box.seal('value', context);
    server.failNext(1, { kind: 'throttling' }, 'Decrypt');
    expect((await secretBoxError(box.open(sealed, context))).message).toBe(
      'KMS Decrypt failed: KMS unavailable (ThrottlingException)',
    );
    server.failNext(1, { kind: 'internal' });
    expect((await secretBoxError(box.seal('value', context))).message).toBe(
      'KMS GenerateDataKey failed: KMS unavailable (KMSInternalException)',
    );
    server.failNext(1, { kind: 'key_unavailable' });
    expect((await secretBoxError(box.open(sealed, context))).message).toMatch(/KMS unavailable/);

    const gone = await startKmsServer();
    await gone.close();
    const unreachable = kmsClient(gone.url, 1);
    const error = await secretBoxError(
      createKmsSecretBox({ client: unreachable, keyId: gone.keyArn }).seal('value', context),
    );
    expect(error.message).toMatch(/^KMS GenerateDataKey failed: KMS unavailable/);
    unreachable.destroy();

    const disabledKey = server.createKey();
    const disabledBox = createKmsSecretBox({ client: onceClient, keyId: disabledKey });
    const toDisable = await disabledBox.seal('value', context);
    server.disableKey(disabledKey);
    expect((await secretBoxError(disabledBox.open(toDisable, context))).message).toBe(
      'KMS Decrypt failed: the key is not usable (disabled, pending deletion or not found) (DisabledException)',
    );
  });

  test('a transient 500 is retried by the SDK and the seal succeeds', async () => {
    const box = createKmsSecretBox({ client, keyId: server.keyArn });
    server.failNext(1, { kind: 'internal' }, 'GenerateDataKey');
    const sealed = await box.seal('after a retry', context);
    expect(server.requests.map((r) => r.operation)).toEqual(['GenerateDataKey', 'GenerateDataKey']);
    await expect(box.open(sealed, context)).resolves.toBe('after a retry');
  });

  test('an unknown key id is "not usable"', async () => {
    const box = createKmsSecretBox({ client, keyId: 'alias/does-not-exist' });
    const error = await secretBoxError(box.seal('value', context));
    expect(error.message).toMatch(/not usable .*\(NotFoundException\)/);
  });
});
