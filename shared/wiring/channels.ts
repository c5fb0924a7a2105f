import { join } from 'node:path';
import { type ChannelType, kindOf } from '../channels/registry.ts';
import { once } from '../memo.ts';
import type { ChannelClient } from '../ports/channel-client.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { traced } from '../tracing.ts';
import { optional, readEnv } from './env.ts';

/** The local platform's channel key, beside its other data (created on first use, mode 0600). */
export const LOCAL_CHANNEL_KEY_FILE = 'channel-secrets.key';

/**
 * The SecretBox for channel credentials: KMS envelope encryption with `CHANNEL_KEY_ID` (the stack
 * sets it), else AES-256-GCM with a key in the local platform's data dir.
 */
export async function createSecretBoxFromEnv(): Promise<SecretBox> {
  const env = readEnv({ CHANNEL_KEY_ID: optional, PARLEY_DATA_DIR: optional });
  if (env.CHANNEL_KEY_ID) {
    const [{ KMSClient }, { createKmsSecretBox }] = await Promise.all([
      import('@aws-sdk/client-kms'),
      import('../adapters/secret-box/kms.ts'),
    ]);
    return createKmsSecretBox({ client: traced(new KMSClient({})), keyId: env.CHANNEL_KEY_ID });
  }
  if (env.PARLEY_DATA_DIR) {
    const { createLocalSecretBox } = await import('../adapters/secret-box/local.ts');
    return createLocalSecretBox(join(env.PARLEY_DATA_DIR, LOCAL_CHANNEL_KEY_FILE));
  }
  throw new Error('Invalid environment: CHANNEL_KEY_ID (AWS) or PARLEY_DATA_DIR (local) is required');
}

/** A SecretBox built on first use (the KMS client and its module load only when a channel is touched). */
export function lazySecretBox(): SecretBox {
  const box = once(createSecretBoxFromEnv);
  return {
    seal: async (plaintext, context) => (await box()).seal(plaintext, context),
    open: async (sealed, context) => (await box()).open(sealed, context),
  };
}

/**
 * A client per channel, built on first use by the channel's kind from the environment (each
 * kind reads its own: the platform API's origin for tests, the Graph API version…).
 */
export function createChannelClientsFromEnv(): (channel: ChannelType) => ChannelClient {
  const clients = new Map<ChannelType, ChannelClient>();
  return (channel) => {
    const client = clients.get(channel) ?? kindOf(channel).client(process.env);
    clients.set(channel, client);
    return client;
  };
}
