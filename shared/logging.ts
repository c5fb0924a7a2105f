import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { API_KEY_TEXT_PATTERN, ID_PATTERN } from './domain/ids.ts';

// Structured JSON logs (Powertools) with secrets masked on the way out: API keys wherever they
// appear in text, fields whose name says they hold a secret, and registered secret values. The
// replacer runs on every value of every log record.
//
// Registered values come in two scopes. The platform's own secrets (the operator key, the local
// key file, the deployment's OpenAI key) are masked in every record of the container. A tenant's
// credentials (a channel's tokens, opened for one request or message) are masked only in that
// request's log context: a tenant choosing as its secret another tenant's id, or any common word,
// must not blank it out of everyone's logs. Ids are never masked, and both lists are bounded.

const SECRET_FIELD = /authorization|api[-_]?key|secret|token|password|credential|cookie/i;
/** Fields that hold ids (tenantId, botId, requestId, id…): shown as they are, never masked. */
const ID_FIELD = /^(id|[a-z]+Id)$/;
const MIN_SECRET_CHARS = 8;
const MAX_PLATFORM_SECRETS = 32;
const MAX_CONTEXT_SECRETS = 64;

const platformSecrets = new Set<string>();
const logContext = new AsyncLocalStorage<Set<string>>();

function addBounded(set: Set<string>, value: string, max: number): void {
  // An id-shaped value is someone's id whatever a tenant claims: masking it would hide log lines.
  if (value.length < MIN_SECRET_CHARS || ID_PATTERN.test(value) || set.has(value)) return;
  // The oldest goes first: a long-lived container keeps the secrets it used last.
  if (set.size >= max) set.delete(set.values().next().value as string);
  set.add(value);
}

/** Masks this exact value in every later log record of the container: the platform's own secrets. */
export function registerSecret(value: string): void {
  addBounded(platformSecrets, value, MAX_PLATFORM_SECRETS);
}

/** Masks this exact value in the rest of the current log context only: a tenant's credentials. */
export function registerContextSecret(value: string): void {
  const secrets = logContext.getStore();
  if (secrets) addBounded(secrets, value, MAX_CONTEXT_SECRETS);
}

/** Runs `work` in a log context of its own (one request, one queue message). */
export const withLogContext = <T>(work: () => T): T => logContext.run(new Set(), work);

/** Starts a log context for the rest of the current asynchronous flow (a middleware's `before`). */
export const enterLogContext = (): void => logContext.enterWith(new Set());

const maskAll = (text: string, secrets: Iterable<string>) => {
  let masked = text;
  for (const secret of secrets) if (masked.includes(secret)) masked = masked.split(secret).join('••••');
  return masked;
};

export function maskText(text: string): string {
  const masked = maskAll(
    text.replace(API_KEY_TEXT_PATTERN, (key) => `${key.slice(0, 20)}••••`),
    platformSecrets,
  );
  return maskAll(masked, logContext.getStore() ?? []);
}

export function maskSecrets(key: string, value: unknown): unknown {
  if (key && ID_FIELD.test(key)) return value;
  if (key && SECRET_FIELD.test(key) && (typeof value === 'string' || typeof value === 'number'))
    return '••••';
  if (typeof value === 'string') return maskText(value);
  return value;
}

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley',
  jsonReplacerFn: maskSecrets,
});
