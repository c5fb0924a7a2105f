import { type InboundMessage, replyDeduplicationId } from '../channels/inbound.ts';
import { channelKind } from '../channels/registry.ts';
import { type ReplyJob, replyGroupId } from '../channels/reply-job.ts';
import type { Bot } from '../domain/bot.ts';
import type { ChannelConnection, ChannelType } from '../domain/channel.ts';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../domain/errors.ts';
import { logger } from '../logging.ts';
import { type Clock, epochSeconds } from '../ports/clock.ts';
import type { FifoQueue } from '../ports/queue.ts';
import type { ReplyLedger } from '../ports/reply-ledger.ts';
import type { BotRepository, ChannelRepository } from '../ports/repositories.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { openChannel } from './channels.ts';
import { loadBot } from './chat.ts';

// The webhooks' intake: the platform's handshake, and deliveries checked by the channel's kind (a
// signature, a secret token) before anything is read, parsed, filtered to what the bot answers, queued, and remembered. Platforms
// re-deliver what they think was not taken (Meta for up to a day, Telegram for a while): a message
// already taken in is not queued again, and the FIFO queue's 5-minute de-duplication covers the
// moment between queueing and remembering.

export interface WebhookDeps {
  bots: Pick<BotRepository, 'findById'>;
  channels: Pick<ChannelRepository, 'get' | 'recordInbound'>;
  secretBox: SecretBox;
  ledger: Pick<ReplyLedger, 'seen' | 'remember'>;
  replies: FifoQueue<ReplyJob>;
  clock: Clock;
}

/** How long a taken-in message is remembered: beyond every platform's re-delivery window. */
export const INBOUND_MEMORY_SECONDS = 7 * 24 * 3600;
/** `lastInboundAt` is written at most this often per connection: a busy bot costs no write per message. */
const INBOUND_STAMP_MS = 60_000;

const NOT_FOUND = 'No webhook here';

/** The kind a webhook URL names; 404 when there is no such channel. */
function kindOf(channel: string) {
  const kind = channelKind(channel);
  if (!kind) throw new NotFoundError(NOT_FOUND);
  return kind;
}

/** The connection a webhook URL names, with its secrets; 404 alike for every way it is not there. */
async function connectionOf(deps: WebhookDeps, channel: string, botId: string) {
  const kind = kindOf(channel);
  const bot = await loadBot(deps, botId);
  if (!bot) throw new NotFoundError(NOT_FOUND);
  const connection = await deps.channels.get(bot.tenantId, bot.id, kind.type);
  if (!connection) throw new NotFoundError(NOT_FOUND);
  const secrets = await openChannel(deps, connection);
  return { kind, bot, connection, secrets };
}

/**
 * The platform's subscription handshake (Meta's): the challenge to echo when the query carries
 * the channel's verify token; `UnauthorizedError` otherwise (the function answers 403, as Meta
 * expects). 404 for a channel without a handshake.
 */
export async function webhookHandshake(
  deps: WebhookDeps,
  channel: string,
  botId: string,
  query: Record<string, string | undefined>,
): Promise<string> {
  if (!kindOf(channel).handshake) throw new NotFoundError(NOT_FOUND);
  const { kind, secrets } = await connectionOf(deps, channel, botId);
  const challenge = kind.handshake?.(query, secrets);
  if (challenge === undefined) throw new UnauthorizedError('The verify token does not match');
  return challenge;
}

export interface WebhookDelivery {
  channel: string;
  botId: string;
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  /** The bytes as the platform sent them (base64-decoded). */
  rawBody: Buffer;
  /** The API request's id, carried to the reply. */
  requestId?: string;
}

export interface IntakeResult {
  /** Messages put on the reply queue. */
  queued: number;
  /** Messages already taken in before (platform re-deliveries). */
  duplicates: number;
  /** Messages for another account than the connected one. */
  foreign: number;
}

/**
 * One delivery: 401 with nothing read when the kind's `verify` (a signature, a secret token)
 * does not check out; 400 when it is not the platform's format; otherwise each message the bot
 * answers is queued (one FIFO group per user), then remembered. Everything else is ignored.
 */
export async function takeDelivery(deps: WebhookDeps, delivery: WebhookDelivery): Promise<IntakeResult> {
  const { kind, bot, connection, secrets } = await connectionOf(deps, delivery.channel, delivery.botId);
  const type = connection.type;
  if (!kind.verify(delivery, secrets))
    throw new UnauthorizedError('The delivery is not signed with this channel’s secret');

  let json: unknown;
  try {
    json = JSON.parse(delivery.rawBody.toString('utf8'));
  } catch (error) {
    throw new BadRequestError('The body is not valid JSON', [{ path: '', message: 'malformed JSON' }], error);
  }
  const parsed = kind.parse(json);

  // A Meta app may deliver other pages' or numbers' messages to this URL: only this account's are ours.
  const ours = parsed.filter((m) => m.recipientId === undefined || m.recipientId === connection.accountId);
  const foreign = parsed.length - ours.length;
  if (foreign > 0) logger.warn('messages for another account ignored', { channel: type, foreign });
  const [result] = await Promise.all([
    queueNew(deps, bot, type, ours, delivery.requestId),
    stampInbound(deps, connection),
  ]);
  return { ...result, foreign };
}

/** Queues the messages not taken in before, then remembers them. */
async function queueNew(
  deps: WebhookDeps,
  bot: Bot,
  channel: ChannelType,
  messages: InboundMessage[],
  requestId?: string,
) {
  const scope = { tenantId: bot.tenantId, botId: bot.id };
  const now = deps.clock.now();
  // A delivery can repeat a message within itself (Meta batches retries): the first counts.
  const byKey = new Map<string, InboundMessage>();
  for (const message of messages) {
    const key = replyDeduplicationId(bot.id, message);
    if (!byKey.has(key)) byKey.set(key, message);
  }
  const seen = await deps.ledger.seen(scope, [...byKey.keys()], now);
  const fresh = [...byKey].filter(([key]) => !seen.has(key));
  if (fresh.length > 0) {
    await deps.replies.send(
      fresh.map(([key, message]) => ({
        body: {
          ...scope,
          key,
          // The channel whose URL it came to (the parser's `channel` is the same name, untyped).
          message: { ...message, channel },
          receivedAt: now.toISOString(),
          ...(requestId && { requestId }),
        },
        groupId: replyGroupId(bot.id, message),
        deduplicationId: key,
      })),
    );
    // Only after the queue has them: a failure before this point loses nothing (the platform
    // re-delivers, and the message is not yet remembered).
    await deps.ledger.remember(
      scope,
      fresh.map(([key]) => key),
      epochSeconds(now) + INBOUND_MEMORY_SECONDS,
    );
  }
  return { queued: fresh.length, duplicates: messages.length - fresh.length };
}

async function stampInbound(deps: WebhookDeps, connection: ChannelConnection) {
  const now = deps.clock.now();
  const last = connection.lastInboundAt ? Date.parse(connection.lastInboundAt) : 0;
  if (now.getTime() - last < INBOUND_STAMP_MS) return;
  await deps.channels.recordInbound(
    connection.tenantId,
    connection.botId,
    connection.type,
    now.toISOString(),
  );
}
