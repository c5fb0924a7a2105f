import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { registerSecret } from '../logging.ts';
import { traced } from '../tracing.ts';

/** The OpenAI API key: from Secrets Manager in AWS, from OPENAI_API_KEY locally. */
export async function resolveOpenAIKey(env: {
  OPENAI_API_KEY?: string;
  OPENAI_API_KEY_SECRET_ARN?: string;
}): Promise<string> {
  let key = env.OPENAI_API_KEY;
  if (!key && env.OPENAI_API_KEY_SECRET_ARN) {
    const result = await traced(new SecretsManagerClient({})).send(
      new GetSecretValueCommand({ SecretId: env.OPENAI_API_KEY_SECRET_ARN }),
    );
    key = result.SecretString;
  }
  if (!key)
    throw new Error('Invalid environment: set OPENAI_API_KEY_SECRET_ARN (AWS) or OPENAI_API_KEY (local)');
  registerSecret(key);
  return key;
}
