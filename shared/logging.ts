import { Logger } from '@aws-lambda-powertools/logger';
import { API_KEY_TEXT_PATTERN } from './domain/ids.ts';

// Structured JSON logs (Powertools) with secrets masked on the way out: API keys wherever they
// appear in text, fields whose name says they hold a secret, and registered secret values (the
// operator key). The replacer runs on every value of every log record.

const SECRET_FIELD = /authorization|api[-_]?key|secret|token|password|credential|cookie/i;
const registeredSecrets = new Set<string>();

/** Masks this exact value in every later log record (for secrets with no recognisable shape). */
export function registerSecret(value: string): void {
  if (value.length >= 8) registeredSecrets.add(value);
}

export function maskText(text: string): string {
  let masked = text.replace(API_KEY_TEXT_PATTERN, (key) => `${key.slice(0, 20)}••••`);
  for (const secret of registeredSecrets) masked = masked.split(secret).join('••••');
  return masked;
}

export function maskSecrets(key: string, value: unknown): unknown {
  if (key && SECRET_FIELD.test(key) && (typeof value === 'string' || typeof value === 'number'))
    return '••••';
  if (typeof value === 'string') return maskText(value);
  return value;
}

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'parley',
  jsonReplacerFn: maskSecrets,
});
