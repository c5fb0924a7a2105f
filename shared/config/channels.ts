import { join } from 'node:path';
import { createMetaClient } from '../adapters/channels/meta.ts';
import { createTelegramClient } from '../adapters/channels/telegram.ts';
import type { ChannelType } from '../domain/channel.ts';
import { once } from '../memo.ts';
import type { ChannelClient, TelegramAdmin } from '../ports/channel-client.ts';
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

/** Telegram's Bot API client: api.telegram.org, or `TELEGRAM_API_BASE_URL` (tests). */
export function createTelegramFromEnv(): ChannelClient<'telegram'> & TelegramAdmin {
  const env = readEnv({ TELEGRAM_API_BASE_URL: optional });
  return createTelegramClient({ baseUrl: env.TELEGRAM_API_BASE_URL });
}

/**
 * A client per channel, built on first use: Telegram as above; the Graph API at graph.facebook.com
 * or `META_GRAPH_BASE_URL` (tests), with `GRAPH_API_VERSION` (default v23.0).
 */
export function createChannelClientsFromEnv(): (channel: ChannelType) => ChannelClient {
  const env = readEnv({ META_GRAPH_BASE_URL: optional, GRAPH_API_VERSION: optional });
  const clients = new Map<ChannelType, ChannelClient>();
  const build = (channel: ChannelType): ChannelClient =>
    channel === 'telegram'
      ? createTelegramFromEnv()
      : createMetaClient(channel, { baseUrl: env.META_GRAPH_BASE_URL, graphVersion: env.GRAPH_API_VERSION });
  return (channel) => {
    const client = clients.get(channel) ?? build(channel);
    clients.set(channel, client);
    return client;
  };
}
