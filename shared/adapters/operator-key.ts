import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { registerSecret } from '../logging.ts';
import { traced } from '../tracing.ts';

/** Where the platform operator's key comes from. */
export interface OperatorKeySource {
  get(): Promise<string>;
}

const CACHE_MS = 5 * 60 * 1000;

/**
 * Locally the key is in `PARLEY_OPERATOR_KEY`; in AWS it is the stack's generated secret. The
 * secret is cached for five minutes per container, so a rotated key is honoured within minutes
 * without a Secrets Manager call on every operator request.
 */
export function createOperatorKeySource(env: {
  PARLEY_OPERATOR_KEY?: string;
  OPERATOR_KEY_SECRET_ARN?: string;
}): OperatorKeySource {
  const { PARLEY_OPERATOR_KEY: fixed, OPERATOR_KEY_SECRET_ARN: arn } = env;
  if (fixed) {
    registerSecret(fixed);
    return { get: async () => fixed };
  }
  if (!arn)
    throw new Error('Invalid environment: set OPERATOR_KEY_SECRET_ARN (AWS) or PARLEY_OPERATOR_KEY (local)');
  const client = traced(new SecretsManagerClient({}));
  let cached: { value: string; at: number } | undefined;
  return {
    async get() {
      if (cached && Date.now() - cached.at < CACHE_MS) return cached.value;
      const result = await client.send(new GetSecretValueCommand({ SecretId: arn }));
      if (!result.SecretString) throw new Error('The operator key secret has no string value');
      registerSecret(result.SecretString);
      cached = { value: result.SecretString, at: Date.now() };
      return cached.value;
    },
  };
}
