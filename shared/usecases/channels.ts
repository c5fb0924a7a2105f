import { newTelegramSecretToken } from '../channels/signatures.ts';
import {
  accountIdOf,
  type ChannelConnection,
  type ChannelCredentials,
  type ChannelType,
  CredentialSchemas,
  maskCredentials,
} from '../domain/channel.ts';
import {
  BadRequestError,
  type FieldIssue,
  NotFoundError,
  UpstreamUnavailableError,
} from '../domain/errors.ts';
import { parseInput } from '../domain/validation.ts';
import { logger } from '../logging.ts';
import { ChannelSendError, type TelegramAdmin } from '../ports/channel-client.ts';
import type { ChannelRepository } from '../ports/repositories.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { getBot } from './bots.ts';
import type { TenantDeps } from './tenants.ts';

export interface ChannelDeps extends TenantDeps {
  channels: ChannelRepository;
  secretBox: SecretBox;
  telegram: TelegramAdmin;
}

/** What a connection's sealed value holds. */
export interface ChannelSecrets<C extends ChannelType = ChannelType> {
  credentials: ChannelCredentials[C];
  /** Telegram: the secret token it echoes in `X-Telegram-Bot-Api-Secret-Token`. */
  webhookSecret?: string;
}

/** Binds a sealed value to its connection: copied onto another record, it does not open. */
const sealContext = (c: Pick<ChannelConnection, 'tenantId' | 'botId' | 'type'>) => ({
  tenantId: c.tenantId,
  botId: c.botId,
  channel: c.type,
});

export const webhookPath = (type: ChannelType, botId: string) => `/webhooks/${type}/${botId}`;

/**
 * Connects (or reconnects) a bot to a channel. Telegram's token is checked with `getMe` and the
 * webhook registered with a fresh secret token before anything is stored; the credentials are
 * sealed, and only their masked form is kept readable.
 */
export async function connectChannel(
  deps: ChannelDeps,
  tenantId: string,
  botId: string,
  type: ChannelType,
  body: unknown,
  webhookUrl: string,
): Promise<ChannelConnection> {
  const bot = await getBot(deps, tenantId, botId);
  const credentials = parseInput(CredentialSchemas[type], body, 'credentials') as Record<string, string>;
  const secrets: ChannelSecrets = { credentials: credentials as ChannelSecrets['credentials'] };
  if (type === 'telegram') {
    const token = credentials.botToken ?? '';
    await callTelegram(() => deps.telegram.verify(token), 'check the bot token', {
      path: 'botToken',
      message: 'Telegram does not accept this bot token',
    });
    secrets.webhookSecret = newTelegramSecretToken();
    await callTelegram(
      () => deps.telegram.setWebhook(token, webhookUrl, secrets.webhookSecret ?? ''),
      'set the webhook',
      { path: '', message: `Telegram refused the webhook URL ${webhookUrl} (it must be public HTTPS)` },
    );
  }
  const now = deps.clock.now().toISOString();
  const existing = await deps.channels.get(bot.tenantId, bot.id, type);
  const key = { tenantId: bot.tenantId, botId: bot.id, type };
  const connection: ChannelConnection = {
    ...key,
    sealed: await deps.secretBox.seal(JSON.stringify(secrets), sealContext(key)),
    masked: maskCredentials(credentials),
    accountId: accountIdOf(type, credentials),
    status: 'connected',
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  };
  await deps.channels.put(connection);
  return connection;
}

/** A Telegram call while connecting: its refusal is the admin's to fix (400), its absence a 502. */
async function callTelegram<T>(call: () => Promise<T>, what: string, refused: FieldIssue): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ChannelSendError && error.failure === 'rejected') {
      throw new BadRequestError(`Telegram refused to ${what}`, [refused]);
    }
    throw new UpstreamUnavailableError(`Telegram could not be reached to ${what}; try again`, {
      cause: error,
    });
  }
}

export async function getChannel(
  deps: ChannelDeps,
  tenantId: string,
  botId: string,
  type: ChannelType,
): Promise<ChannelConnection> {
  const bot = await getBot(deps, tenantId, botId);
  const connection = await deps.channels.get(bot.tenantId, bot.id, type);
  if (!connection) throw new NotFoundError(`The bot is not connected to ${type}`);
  return connection;
}

/** The connection's credentials (and webhook secret), opened. */
export async function openChannel<C extends ChannelType>(
  deps: Pick<ChannelDeps, 'secretBox'>,
  connection: ChannelConnection & { type: C },
): Promise<ChannelSecrets<C>> {
  return JSON.parse(
    await deps.secretBox.open(connection.sealed, sealContext(connection)),
  ) as ChannelSecrets<C>;
}

/**
 * Disconnects: Telegram's webhook is deleted (a failure is logged, not fatal: the token may have
 * been revoked already), then the credentials go.
 */
async function removeConnection(deps: ChannelDeps, connection: ChannelConnection): Promise<void> {
  if (connection.type === 'telegram') {
    try {
      const { credentials } = await openChannel(deps, connection as ChannelConnection & { type: 'telegram' });
      await deps.telegram.deleteWebhook(credentials.botToken);
    } catch (error) {
      logger.warn('could not delete the Telegram webhook; removing the connection anyway', {
        botId: connection.botId,
        error,
      });
    }
  }
  await deps.channels.delete(connection.tenantId, connection.botId, connection.type);
}

export async function disconnectChannel(
  deps: ChannelDeps,
  tenantId: string,
  botId: string,
  type: ChannelType,
): Promise<void> {
  await removeConnection(deps, await getChannel(deps, tenantId, botId, type));
}

/** For the bot and tenant deletion cascade. */
export async function disconnectAllChannels(
  deps: ChannelDeps,
  tenantId: string,
  botId: string,
): Promise<void> {
  for (const connection of await deps.channels.list(tenantId, botId))
    await removeConnection(deps, connection);
}
