import type { ChannelSecrets } from '../channels/kind.ts';
import { kindOf } from '../channels/registry.ts';
import {
  type ChannelConnection,
  type ChannelCredentials,
  type ChannelType,
  maskCredentials,
} from '../domain/channel.ts';
import { NotFoundError } from '../domain/errors.ts';
import { parseInput } from '../domain/validation.ts';
import { logger } from '../logging.ts';
import type { ChannelDeps } from './deps.ts';
import { getBot } from './lookups.ts';

// Connecting a bot to a channel and disconnecting it. What a channel does on its platform's side
// (Telegram checks the token and registers its webhook) is its kind's `connect` and `disconnect`.

export type { ChannelSecrets } from '../channels/kind.ts';
export type { ChannelDeps } from './deps.ts';

/** Binds a sealed value to its connection: copied onto another record, it does not open. */
const sealContext = (c: Pick<ChannelConnection, 'tenantId' | 'botId' | 'type'>) => ({
  tenantId: c.tenantId,
  botId: c.botId,
  channel: c.type,
});

export const webhookPath = (type: ChannelType, botId: string) => `/webhooks/${type}/${botId}`;

/**
 * Connects (or reconnects) a bot to a channel. The credentials are checked with the kind's schema
 * and set up on the platform by its `connect` before anything is stored; they are sealed, and
 * only their masked form is kept readable.
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
  const kind = kindOf(type);
  const credentials = parseInput(kind.credentials, body, 'credentials');
  const secrets: ChannelSecrets = { credentials };
  if (kind.connect) {
    const { webhookSecret } = await kind.connect({ client: deps.clients(type), credentials, webhookUrl });
    if (webhookSecret !== undefined) secrets.webhookSecret = webhookSecret;
  }
  const now = deps.clock.now().toISOString();
  const existing = await deps.channels.get(bot.tenantId, bot.id, type);
  const key = { tenantId: bot.tenantId, botId: bot.id, type };
  const connection: ChannelConnection = {
    ...key,
    sealed: await deps.secretBox.seal(JSON.stringify(secrets), sealContext(key)),
    masked: maskCredentials(type, credentials),
    accountId: kind.accountIdOf(credentials),
    status: 'connected',
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  };
  await deps.channels.put(connection);
  return connection;
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
): Promise<ChannelSecrets<ChannelCredentials[C]>> {
  return JSON.parse(await deps.secretBox.open(connection.sealed, sealContext(connection))) as ChannelSecrets<
    ChannelCredentials[C]
  >;
}

/**
 * Disconnects: the kind's `disconnect` undoes its set-up on the platform (a failure is logged,
 * not fatal: the token may have been revoked already), then the credentials go.
 */
async function removeConnection(deps: ChannelDeps, connection: ChannelConnection): Promise<void> {
  const kind = kindOf(connection.type);
  if (kind.disconnect) {
    try {
      const secrets = await openChannel(deps, connection);
      await kind.disconnect({ client: deps.clients(connection.type), secrets });
    } catch (error) {
      logger.warn('could not undo the channel’s set-up on the platform; removing the connection anyway', {
        botId: connection.botId,
        channel: connection.type,
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
