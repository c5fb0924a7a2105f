import { createHash } from 'node:crypto';
import { kindOf } from '../channels/registry.ts';
import type { ReplyJob } from '../channels/reply-job.ts';
import type { Bot } from '../domain/bot.ts';
import type { ChannelConnection } from '../domain/channel.ts';
import { BotDisabledError, NotFoundError, QuotaExceededError, RateLimitedError } from '../domain/errors.ts';
import { logger } from '../logging.ts';
import type { CountMetric } from '../metrics.ts';
import { type ChannelClient, ChannelSendError } from '../ports/channel-client.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { ReplyLedger, ReplyScope, SendRecord, SendState } from '../ports/reply-ledger.ts';
import type { ChannelRepository } from '../ports/repositories.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import { openChannel } from './channels.ts';
import { chatTurn, resolveBot } from './chat.ts';
import type { ChatDeps } from './deps.ts';

// Answers one message from a messaging channel, exactly once. Every delivery of a message first
// reads its send record (beside the connection): a message answered or skipped before — a
// platform's re-delivery a day later, past the queue's de-duplication — is not answered again. The
// reply is composed (the chat pipeline, the bot's unsupportedMessage, or a polite notice over a
// limit), written to the record *before* it is sent, and the record confirmed after; a message
// left unanswered gets a `skipped` record. A redelivered message (a crash, a lost acknowledgement)
// finds the record: confirmed or skipped, it is done; still `sending`, the worker died mid-send
// and the reply may have arrived, so it is not sent again but logged and counted
// (UnconfirmedReplies, which an alarm watches). A platform that is unavailable leaves the record
// `retry` with what is left to send, and the queue tries again later.

export interface ReplyDeps extends ChatDeps {
  channels: Pick<ChannelRepository, 'get' | 'recordInbound' | 'recordDelivery'>;
  secretBox: SecretBox;
  ledger: ReplyLedger;
  clients: (channel: ChannelConnection['type']) => ChannelClient;
  count: CountMetric;
}

export type ReplyOutcome =
  /** The platform took the reply. */
  | 'sent'
  /** Answered (or being answered) by an earlier delivery of the message. */
  | 'duplicate'
  /** Found mid-send from an earlier delivery, or sent without an answer: not sent again. */
  | 'unconfirmed'
  /** The platform refused the reply. */
  | 'rejected'
  /** Nothing to send: the channel or bot is gone or disabled, or the user was already told about a limit. */
  | 'skipped'
  /** Not answered: the platform's messaging window (Meta's 24 hours) closed before it could be. */
  | 'expired';

/**
 * How long a send record lives: past the reply queue's retention (4 days) and every platform's
 * re-delivery window (Meta's day), so any later delivery of the message finds it.
 */
export const SEND_RECORD_SECONDS = 7 * 24 * 3600;
/** `lastInboundAt` is written at most this often per connection: a busy bot costs no write per message. */
const INBOUND_STAMP_MS = 60_000;

/** What a user over a limit is told, once per window. */
export const LIMIT_NOTICES = {
  rate: 'You are sending messages faster than I can answer. Please wait a minute, then try again.',
  quota: 'I cannot answer more messages right now. Please try again later.',
} as const;
/** A user over the quota is told again at most once a day. */
const QUOTA_NOTICE_SECONDS = 24 * 3600;

/**
 * Answers `job`. Throws (so the queue delivers it again) only when the platform was unavailable
 * and parts of the reply are left to send, or on a failure of Parley's own.
 */
export async function answerChannelMessage(
  deps: ReplyDeps,
  job: ReplyJob,
  options: { finalAttempt: boolean } = { finalAttempt: false },
): Promise<ReplyOutcome> {
  const scope: ReplyScope = { tenantId: job.tenantId, botId: job.botId };
  const log = { channel: job.message.channel, key: job.key };
  const now = deps.clock.now();
  const [record, connection] = await Promise.all([
    deps.ledger.getSend(scope, job.key, now),
    deps.channels.get(job.tenantId, job.botId, job.message.channel),
  ]);
  if (record && record.state !== 'retry') {
    if (record.state !== 'sending') {
      logger.info('message already answered; redelivery ignored', { ...log, state: record.state });
      return 'duplicate';
    }
    // The worker that wrote it stopped between the send and its confirmation.
    await move(deps, scope, job.key, 'sending', { state: 'unconfirmed', delivered: record.delivered });
    return unconfirmed(deps, log, 'a previous attempt stopped mid-send');
  }
  /** Not answered, and never will be: a later delivery finds the record. */
  const skip = async (outcome: ReplyOutcome) => {
    if (!record) await create(deps, scope, job.key, { state: 'skipped', delivered: 0 });
    return outcome;
  };

  if (!connection) {
    logger.info('channel disconnected; message dropped', log);
    return skip('skipped');
  }
  // Neither composed nor metered: the platform would refuse a reply this late. A reply already
  // composed (a retry of its send) still goes out: it was in time when it began.
  if (!record && windowClosed(job, now)) {
    logger.warn('the platform’s messaging window closed before the message was answered', log);
    deps.count('RepliesExpired');
    return skip('expired');
  }

  let text: string;
  let fromPart = 0;
  if (record) {
    // The platform was unavailable last time: send what is left of the same reply.
    text = record.text ?? '';
    fromPart = record.delivered;
    if (!(await move(deps, scope, job.key, 'retry', { state: 'sending', delivered: fromPart, text }))) {
      return 'duplicate';
    }
  } else {
    const [composed] = await Promise.all([compose(deps, job, scope), stampInbound(deps, job, connection)]);
    if (composed === undefined) return skip('skipped');
    text = composed;
    if (!(await create(deps, scope, job.key, { state: 'sending', text, delivered: 0 }))) return 'duplicate';
  }
  return deliver(deps, job, connection, text, fromPart, options.finalAttempt);
}

/** Notes when the connection last took a message in, at most once a minute. */
async function stampInbound(deps: ReplyDeps, job: ReplyJob, connection: ChannelConnection) {
  const last = connection.lastInboundAt ? Date.parse(connection.lastInboundAt) : 0;
  if (Date.parse(job.receivedAt) - last < INBOUND_STAMP_MS) return;
  await deps.channels.recordInbound(connection.tenantId, connection.botId, connection.type, job.receivedAt);
}

/** Whether the channel lets the bot answer no longer: the user's message is older than its window. */
function windowClosed(job: ReplyJob, now: Date): boolean {
  const windowSeconds = kindOf(job.message.channel).replyWindowSeconds;
  if (windowSeconds === undefined) return false;
  const sentAt = Date.parse(job.message.timestamp);
  return Number.isFinite(sentAt) && now.getTime() - sentAt > windowSeconds * 1000;
}

/** The reply to send; undefined when nothing is to be sent. */
async function compose(deps: ReplyDeps, job: ReplyJob, scope: ReplyScope): Promise<string | undefined> {
  const { message } = job;
  const log = { channel: message.channel, key: job.key };
  let bot: Bot;
  try {
    bot = await resolveBot(deps, job.botId, { kind: 'tenant', tenantId: job.tenantId });
  } catch (error) {
    if (!(error instanceof NotFoundError || error instanceof BotDisabledError)) throw error;
    logger.info('bot deleted or disabled; message not answered', { ...log, reason: error.code });
    return undefined;
  }
  try {
    if (message.kind === 'unsupported') {
      // Not for the model, but a message all the same: limited, counted and metered.
      const endUser = { kind: 'channel', channel: message.channel, platformUserId: message.userId } as const;
      const { heldTokens } = await deps.guard.admit(bot, [endUser], 0);
      // No conversation: an unsupported message is answered, not stored.
      await deps.guard.record(
        bot,
        { inputTokens: 0, outputTokens: 0, modelId: bot.model.id ?? 'none', heldTokens },
        undefined,
      );
      logger.info('unsupported message; answering with the bot’s unsupportedMessage', {
        ...log,
        type: message.unsupportedType,
      });
      return bot.unsupportedMessage;
    }
    const result = await chatTurn(deps, {
      bot,
      message: message.text,
      caller: { kind: 'tenant', tenantId: bot.tenantId },
      channel: message.channel,
      userIdentity: message.userId,
    });
    return result.reply;
  } catch (error) {
    if (!(error instanceof RateLimitedError || error instanceof QuotaExceededError)) throw error;
    return limitNotice(deps, job, scope, error);
  }
}

/** One polite notice per user and window; later messages in the window get nothing. */
async function limitNotice(
  deps: ReplyDeps,
  job: ReplyJob,
  scope: ReplyScope,
  error: RateLimitedError | QuotaExceededError,
): Promise<string | undefined> {
  const reason = error instanceof RateLimitedError ? 'rate' : 'quota';
  deps.count('RepliesLimited');
  const now = deps.clock.now();
  const window =
    error instanceof RateLimitedError ? Math.max(60, error.retryAfterSeconds) : QUOTA_NOTICE_SECONDS;
  const key = createHash('sha256')
    .update(`${reason}\n${job.message.channel}\n${job.message.userId}`)
    .digest('hex');
  const first = await deps.ledger.takeNotice(scope, key, epochSeconds(now) + window, now);
  logger.warn('channel message over a limit', {
    channel: job.message.channel,
    key: job.key,
    reason: error.message,
    notice: first,
  });
  return first ? LIMIT_NOTICES[reason] : undefined;
}

async function deliver(
  deps: ReplyDeps,
  job: ReplyJob,
  connection: ChannelConnection,
  text: string,
  fromPart: number,
  finalAttempt: boolean,
): Promise<ReplyOutcome> {
  const scope = { tenantId: job.tenantId, botId: job.botId };
  const log = { channel: connection.type, key: job.key };
  const { credentials } = await openChannel(deps, connection);
  let sent: { messageIds: string[] };
  try {
    sent = await deps.clients(connection.type).send(credentials, job.message.userId, text, { fromPart });
  } catch (error) {
    if (!(error instanceof ChannelSendError)) throw error; // the record stays `sending`: never resent
    return failed(deps, job, connection, error, fromPart + error.delivered, text, finalAttempt);
  }
  const delivered = fromPart + sent.messageIds.length;
  await move(deps, scope, job.key, 'sending', { state: 'sent', delivered });
  deps.count('RepliesSent');
  if (connection.status !== 'connected') {
    await deps.channels.recordDelivery(connection.tenantId, connection.botId, connection.type, {
      status: 'connected',
      at: deps.clock.now().toISOString(),
    });
  }
  logger.info('reply sent', {
    ...log,
    parts: delivered,
    msSinceReceived: deps.clock.now().getTime() - Date.parse(job.receivedAt),
  });
  return 'sent';
}

async function failed(
  deps: ReplyDeps,
  job: ReplyJob,
  connection: ChannelConnection,
  error: ChannelSendError,
  delivered: number,
  text: string,
  finalAttempt: boolean,
): Promise<ReplyOutcome> {
  const scope = { tenantId: job.tenantId, botId: job.botId };
  const log = { channel: connection.type, key: job.key, error };
  const noteError = () =>
    deps.channels.recordDelivery(connection.tenantId, connection.botId, connection.type, {
      status: error.credentialsRefused ? 'error' : connection.status,
      lastError: error.message,
      at: deps.clock.now().toISOString(),
    });
  switch (error.failure) {
    case 'unknown':
      await move(deps, scope, job.key, 'sending', { state: 'unconfirmed', delivered });
      return unconfirmed(deps, log, 'the platform did not answer the send');
    case 'rejected':
      await move(deps, scope, job.key, 'sending', { state: 'rejected', delivered });
      await noteError();
      deps.count('ReplyFailures');
      logger.warn('the platform refused the reply', log);
      return 'rejected';
    case 'unavailable':
      // What is left may go on a later delivery of the message.
      await move(deps, scope, job.key, 'sending', { state: 'retry', delivered, text });
      if (finalAttempt) {
        await noteError();
        deps.count('ReplyFailures');
      }
      throw error;
  }
}

function unconfirmed(deps: ReplyDeps, log: Record<string, unknown>, why: string): ReplyOutcome {
  logger.error(`reply not confirmed: ${why}; it may have been delivered and is not sent again`, log);
  deps.count('UnconfirmedReplies');
  return 'unconfirmed';
}

function create(
  deps: ReplyDeps,
  scope: ReplyScope,
  key: string,
  record: Omit<SendRecord, 'updatedAt'>,
): Promise<boolean> {
  const now = deps.clock.now();
  return deps.ledger.createSend(
    scope,
    key,
    { ...record, updatedAt: now.toISOString() },
    epochSeconds(now) + SEND_RECORD_SECONDS,
  );
}

function move(
  deps: ReplyDeps,
  scope: ReplyScope,
  key: string,
  from: SendState,
  to: Omit<SendRecord, 'updatedAt'>,
): Promise<boolean> {
  return deps.ledger.moveSend(scope, key, from, { ...to, updatedAt: deps.clock.now().toISOString() });
}
