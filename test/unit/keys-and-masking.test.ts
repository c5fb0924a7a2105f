import { describe, expect, it } from '@jest/globals';
import { generateApiKey, matchesHash, newId, parseApiKey, secretsEqual } from '../../shared/domain/ids.ts';
import {
  maskSecrets,
  maskText,
  registerContextSecret,
  registerSecret,
  withLogContext,
} from '../../shared/logging.ts';

describe('api keys', () => {
  it('round-trips a generated key and checks its secret against the stored hash only', () => {
    const key = generateApiKey();
    expect(key.apiKey).toMatch(/^pk_[0-9A-Za-z]{16}_[0-9A-Za-z]{43}$/);
    const parsed = parseApiKey(key.apiKey);
    expect(parsed).toEqual({ keyId: key.keyId, secret: key.secret });
    expect(matchesHash(key.secret, key.secretHash)).toBe(true);
    const wrong = `${key.secret.slice(0, -1)}${key.secret.endsWith('x') ? 'y' : 'x'}`;
    expect(matchesHash(wrong, key.secretHash)).toBe(false);
    expect(key.secretHash).not.toContain(key.secret);
    expect(key.prefix.length).toBeLessThan(key.apiKey.length - 30);
  });

  it('rejects malformed keys', () => {
    for (const bad of [
      '',
      'pk_',
      'pk_abc_def',
      `sk_${'a'.repeat(16)}_${'b'.repeat(43)}`,
      `pk_${'a'.repeat(16)}_${'b'.repeat(42)}!`,
    ]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });

  it('makes distinct opaque ids', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('bot')));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^bot_[0-9A-Za-z]{22}$/);
  });

  it('compares secrets of any length', () => {
    expect(secretsEqual('same-secret', 'same-secret')).toBe(true);
    expect(secretsEqual('same-secret', 'same-secret-longer')).toBe(false);
  });
});

describe('log masking', () => {
  it('masks keys in text, secret-named fields and registered secrets', () => {
    const { apiKey, secret } = generateApiKey();
    registerSecret('operator-secret-value-123');
    const record = JSON.stringify(
      {
        message: `got ${apiKey} from client`,
        headers: { Authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        nested: { botToken: '12345:ABC', note: 'operator-secret-value-123 leaked?' },
      },
      maskSecrets,
    );
    expect(record).not.toContain(secret);
    expect(record).not.toContain('12345:ABC');
    expect(record).not.toContain('operator-secret-value-123');
    expect(record).toContain('application/json');
    expect(maskText(apiKey)).toBe(`${apiKey.slice(0, 20)}••••`);
  });

  // Audit finding: every credential went into one container-wide, unbounded list, so a tenant's
  // appSecret equal to another tenant's id masked that id in every later log line.
  it('masks a tenant’s credentials only in its own log context, never ids, in bounded lists', async () => {
    const otherTenant = 'tnt_0123456789abcdefABCDEF';
    const line = (extra: Record<string, unknown> = {}) =>
      JSON.stringify(
        { message: `reply sent for ${otherTenant}`, tenantId: otherTenant, ...extra },
        maskSecrets,
      );
    await withLogContext(async () => {
      registerContextSecret(otherTenant);
      registerContextSecret('hunter2-app-secret');
      await Promise.resolve();
      expect(maskText('signature with hunter2-app-secret')).toBe('signature with ••••');
      // An id is shown as it is, even in the context that registered it.
      expect(JSON.parse(line())).toEqual({ message: `reply sent for ${otherTenant}`, tenantId: otherTenant });
      expect(JSON.parse(JSON.stringify({ botId: 'hunter2-app-secret' }, maskSecrets)).botId).toBe(
        'hunter2-app-secret',
      );
    });
    await withLogContext(async () => {
      expect(line()).toBe(
        JSON.stringify({ message: `reply sent for ${otherTenant}`, tenantId: otherTenant }),
      );
      expect(maskText('signature with hunter2-app-secret')).toContain('hunter2-app-secret');
    });
    // Bounded: a context that opens many credentials keeps the last 64.
    await withLogContext(async () => {
      for (let i = 0; i < 100; i++) registerContextSecret(`credential-number-${i}`);
      expect(maskText('credential-number-99')).toBe('••••');
      expect(maskText('credential-number-0')).toBe('credential-number-0');
    });
  });
});
