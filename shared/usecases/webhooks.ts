import { type InboundMessage, replyDeduplicationId } from '../channels/inbound.ts';
import { channelKind } from '../channels/registry.ts';
import { type ReplyJob, replyGroupId } from '../channels/reply-job.ts';
import type { ChannelConnection } from '../domain/channel.ts';
import { BadRequestError, NotFoundError, UnauthorizedError } from '../domain/errors.ts';
import { logger } from '../logging.ts';
import type { Clock } from '../ports/clock.ts';
import type { FifoQueue } from '../ports/queue.ts';
import type { ChannelRepository } from '../ports/repositories.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { openChannel } from './channels.ts';

// The webhooks' intake: the platform's handshake, and deliveries checked by the channel's kind (a
// signature, a secret token) before anything is parsed, filtered to what the bot answers, and
// queued. One read (the connection, by the bot id in the URL) and one send: what makes a message
// answered once costs the acknowledgement nothing. Platforms re-deliver what they think was not
// taken (Meta for up to a day, Telegram for a while): the FIFO queue drops a copy within its
// 5-minute de-duplication window (the deduplication id is the message's), and the reply worker's
// send record, which every message it handles ends with and every delivery reads first, catches
// any later one.

export interface WebhookDeps {
  channels: Pick<ChannelRepository, 'getForWebhook'>;
  secretBox: SecretBox;
  replies: FifoQueue<ReplyJob>;
  clock: Clock;
}

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
  const connection = await deps.channels.getForWebhook(botId, kind.type);
  if (!connection) throw new NotFoundError(NOT_FOUND);
  // In AWS a KMS Decrypt only when this container has not opened the connection for 5 minutes
  // (the KMS adapter caches data keys); locally none.
  const secrets = await openChannel(deps, connection);
  return { kind, connection, secrets };
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
  /**
   * Messages handed to the reply queue, re-deliveries included: the queue and the reply worker
   * answer each message once, so the intake cannot tell (and need not know) which were new.
   */
  queued: number;
  /** Messages for another account than the connected one. */
  foreign: number;
}

/**
 * One delivery: 401 with nothing parsed or queued when the kind's `verify` (a signature, a secret
 * token) does not check out; 400 when it is not the platform's format; otherwise each message the
 * bot answers is queued, one FIFO group per user. Everything else is ignored.
 */
export async function takeDelivery(deps: WebhookDeps, delivery: WebhookDelivery): Promise<IntakeResult> {
  const { kind, connection, secrets } = await connectionOf(deps, delivery.channel, delivery.botId);
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
  if (foreign > 0) logger.warn('messages for another account ignored', { channel: connection.type, foreign });
  const queued = await queue(deps, connection, ours, delivery.requestId);
  return { queued, foreign };
}

/** Queues the messages (once each, should the delivery repeat one); how many were queued. */
async function queue(
  deps: WebhookDeps,
  connection: ChannelConnection,
  messages: InboundMessage[],
  requestId?: string,
): Promise<number> {
  const { tenantId, botId, type: channel } = connection;
  const receivedAt = deps.clock.now().toISOString();
  // A delivery can repeat a message within itself (Meta batches retries): the first counts.
  const byKey = new Map<string, InboundMessage>();
  for (const message of messages) {
    const key = replyDeduplicationId(botId, message);
    if (!byKey.has(key)) byKey.set(key, message);
  }
  if (byKey.size === 0) return 0;
  await deps.replies.send(
    [...byKey].map(([key, message]) => ({
      body: {
        tenantId,
        botId,
        key,
        // The channel whose URL it came to (the parser's `channel` is the same name, untyped).
        message: { ...message, channel },
        receivedAt,
        ...(requestId && { requestId }),
      },
      groupId: replyGroupId(botId, message),
      deduplicationId: key,
    })),
  );
  return byKey.size;
}
