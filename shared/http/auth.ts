import type { OperatorKeySource } from '../adapters/operator-key.ts';
import { UnauthorizedError } from '../domain/errors.ts';
import { matchesHash, parseApiKey, secretsEqual } from '../domain/ids.ts';
import { logger } from '../logging.ts';
import type { Clock } from '../ports/clock.ts';
import type { ApiKeyRepository } from '../ports/repositories.ts';
import type { RouteAuth } from '../resources.ts';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'operator' }
  | { kind: 'tenant'; tenantId: string; keyId: string };

export interface AuthDeps {
  keys: ApiKeyRepository;
  /** Only functions that serve operator routes have one. */
  operatorKey?: OperatorKeySource;
  clock: Clock;
}

const LAST_USED_RESOLUTION_SECONDS = 60;

function bearerToken(headers: Record<string, string | undefined>): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  return match?.[1];
}

/**
 * Checks the caller against what the route requires. No cache: the key record is read on every
 * request, so a revoked key fails on the very next one. Every failure is the same 401, whether
 * the key is missing, malformed, unknown, revoked or wrong.
 */
export async function authenticate(
  required: RouteAuth,
  headers: Record<string, string | undefined>,
  deps: AuthDeps,
): Promise<Principal> {
  if (required === 'none') return { kind: 'anonymous' };
  const token = bearerToken(headers);
  if (!token) throw new UnauthorizedError('Send an API key as "Authorization: Bearer <key>"');

  if (required === 'operator') {
    if (deps.operatorKey && secretsEqual(token, await deps.operatorKey.get())) return { kind: 'operator' };
    throw new UnauthorizedError('The operator key is required');
  }

  const parsed = parseApiKey(token);
  const record = parsed && (await deps.keys.getForAuth(parsed.keyId));
  if (!parsed || !record || !matchesHash(parsed.secret, record.secretHash)) {
    throw new UnauthorizedError('The API key is invalid or revoked');
  }
  logger.appendKeys({ tenantId: record.tenantId, keyId: record.id });
  // The record just read says when the key was last stamped: within the resolution, no write.
  const now = deps.clock.now();
  const lastUsedMs = record.lastUsedAt === null ? Number.NaN : Date.parse(record.lastUsedAt);
  if (!(now.getTime() - lastUsedMs < LAST_USED_RESOLUTION_SECONDS * 1000)) {
    await deps.keys.touch(record.tenantId, record.id, now, LAST_USED_RESOLUTION_SECONDS);
  }
  return { kind: 'tenant', tenantId: record.tenantId, keyId: record.id };
}
