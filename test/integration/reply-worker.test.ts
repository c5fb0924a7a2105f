// The reply worker's send records behind the queue: the reply use-case runs in this process against
// the platform's own DynamoDB Local and channel key, sending through the real Graph API client to
// the Graph wire server with short retries. What a redelivery does after each way a send can end:
// the platform unavailable mid-reply (the rest is sent, never the delivered parts), no answer (not
// sent again), a confirmed send, a disconnected channel, a disabled bot, a message past the
// platform's messaging window.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createDynamoChannelRepository } from '../../shared/adapters/dynamodb/channels.ts';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoReplyLedger } from '../../shared/adapters/dynamodb/reply-ledger.ts';
import { replyDeduplicationId } from '../../shared/channels/inbound.ts';
import { kindOf } from '../../shared/channels/registry.ts';
import type { ReplyJob } from '../../shared/channels/reply-job.ts';
import { ChannelSendError } from '../../shared/ports/channel-client.ts';
import type { MetricName } from '../../shared/resources.ts';
import { answerChannelMessage, type ReplyDeps } from '../../shared/usecases/reply.ts';
import { lazySecretBox } from '../../shared/wiring/channels.ts';
import { createChatDeps } from '../../shared/wiring/chat-deps.ts';
import { api, platform } from '../support/platform.ts';
import { type GraphWireServer, startGraphServer } from '../support/wire/graph-server.ts';

let graph: GraphWireServer;
let deps: ReplyDeps;
let key: string;
let tenantId: string;
let botId: string;
const counted: MetricName[] = [];
/** About 1500 UTF-8 bytes: two parts on Instagram (1000 bytes a message). */
const LONG_NOTICE = 'Désolé, je ne lis que le texte. '.repeat(30).trim();

beforeAll(async () => {
  graph = await startGraphServer();
  // The functions' environment (tables, emulators, the data dir with the channel key).
  Object.assign(process.env, platform().env);
  const db = createDocumentClient();
  deps = {
    ...createChatDeps(db),
    channels: createDynamoChannelRepository(db, process.env.TENANTS_TABLE ?? ''),
    secretBox: lazySecretBox(),
    ledger: createDynamoReplyLedger(db, process.env.USAGE_TABLE ?? ''),
    clients: () =>
      kindOf('instagram').client(
        {},
        {
          baseUrl: graph.url,
          baseMs: 5,
          maxMs: 20,
          retries: 2,
          attemptTimeoutMs: 300,
        },
      ),
    count: (name) => counted.push(name),
  };
  const tenant = await api('/admin/tenants', { key: platform().operatorKey, body: { name: 'Worker' } });
  key = tenant.json.apiKey;
  tenantId = tenant.json.tenant.id;
  const bot = await api('/admin/bots', {
    key,
    body: {
      name: 'Worker bot',
      unsupportedMessage: LONG_NOTICE,
      rateLimits: { perMinute: 1000, perSecond: 100, perUserPerMinute: 100 },
    },
  });
  botId = bot.json.bot.id;
  await connectInstagram(botId);
});

/** Connects the bot to the wire server's Instagram account. */
async function connectInstagram(id: string) {
  const account = graph.account('instagram');
  const connected = await api(`/admin/bots/${id}/channels/instagram`, {
    method: 'PUT',
    key,
    body: {
      accountId: account.id,
      pageAccessToken: account.token,
      appSecret: `${'a'.repeat(28)}5ec1`,
      verifyToken: 'verify-token-0001',
    },
  });
  expect(connected.status).toBe(200);
}

afterAll(async () => {
  await graph?.close();
});

beforeEach(() => {
  graph.reset();
  counted.length = 0;
});

let sequence = 0;
/** An image from a new user: answered with the bot's (long) unsupportedMessage. */
function imageJob(): ReplyJob {
  const message = {
    kind: 'unsupported',
    channel: 'instagram',
    messageId: `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUl${++sequence}`,
    userId: String(5_000_000 + sequence),
    recipientId: graph.account('instagram').id,
    timestamp: new Date().toISOString(),
    unsupportedType: 'image',
  } as const;
  return {
    tenantId,
    botId,
    key: replyDeduplicationId(botId, message),
    message,
    receivedAt: new Date().toISOString(),
  };
}

const parts = kindOf('instagram')
  .format(LONG_NOTICE)
  .map((p) => p.text);
const sentTo = (job: ReplyJob) => graph.sent.filter((m) => m.to === job.message.userId).map((m) => m.text);

describe('redeliveries', () => {
  it('the reply splits into parts on Instagram (the premise of the tests below)', () => {
    expect(parts.length).toBe(2);
  });

  it('unavailable after the first part: the queue retries, and only the rest is sent', async () => {
    const job = imageJob();
    graph.failNext(10, { kind: 'server_error' }, { after: 1 });
    const failure = await answerChannelMessage(deps, job).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ChannelSendError);
    expect(failure).toMatchObject({ failure: 'unavailable', delivered: 1 });
    expect(sentTo(job)).toEqual(parts.slice(0, 1));
    expect(counted).toEqual([]); // not the last attempt: no failure counted yet

    graph.clearFailures();
    expect(await answerChannelMessage(deps, job)).toBe('sent');
    expect(sentTo(job)).toEqual(parts);
    expect(await answerChannelMessage(deps, job)).toBe('duplicate');
    expect(sentTo(job)).toEqual(parts);
    expect(counted).toEqual(['RepliesSent']);
  });

  it('unavailable on the last attempt: the failure is counted and shown on the channel', async () => {
    const job = imageJob();
    graph.failNext(10, { kind: 'server_error', status: 503 });
    await expect(answerChannelMessage(deps, job, { finalAttempt: true })).rejects.toThrow(ChannelSendError);
    expect(counted).toEqual(['ReplyFailures']);
    const view = (await api(`/admin/bots/${botId}/channels/instagram`, { key })).json.channel;
    expect(view.lastError).toMatch(/gave up after 3 attempts/);
    expect(view.status).toBe('connected');
  });

  it('no answer to a send: unconfirmed, counted, and never sent again', async () => {
    const job = imageJob();
    graph.failNext(1, { kind: 'hang' });
    expect(await answerChannelMessage(deps, job)).toBe('unconfirmed');
    expect(counted).toEqual(['UnconfirmedReplies']);
    expect(await answerChannelMessage(deps, job)).toBe('duplicate');
    expect(graph.calls).toHaveLength(1);
  });

  it('a message older than Meta’s 24-hour window is not answered, and counted', async () => {
    const sentAt = (hoursAgo: number) => new Date(Date.now() - hoursAgo * 3600_000).toISOString();
    const late = imageJob();
    const stale = { ...late, message: { ...late.message, timestamp: sentAt(24.1) } };
    expect(await answerChannelMessage(deps, stale)).toBe('expired');
    expect(graph.calls).toEqual([]);
    expect(counted).toEqual(['RepliesExpired']);

    const job = imageJob();
    const inTime = { ...job, message: { ...job.message, timestamp: sentAt(23.9) } };
    expect(await answerChannelMessage(deps, inTime)).toBe('sent');
    expect(sentTo(inTime)).toEqual(parts);
  });

  it('a message delivered again a day later (past the queue’s de-duplication) is not answered again', async () => {
    const job = imageJob();
    expect(await answerChannelMessage(deps, job)).toBe('sent');
    const aDayLater = { ...deps, clock: { now: () => new Date(Date.now() + 24 * 3600_000) } };
    expect(await answerChannelMessage(aDayLater, job)).toBe('duplicate');
    expect(sentTo(job)).toEqual(parts);
    expect(counted).toEqual(['RepliesSent']);
  });

  it('a message left unanswered (its bot disabled) is not answered when delivered again', async () => {
    const bot = await api('/admin/bots', { key, body: { name: 'Dozing', enabled: false } });
    const dozing: string = bot.json.bot.id;
    await connectInstagram(dozing);
    const job = { ...imageJob(), botId: dozing };
    expect(await answerChannelMessage(deps, job)).toBe('skipped');
    const woken = await api(`/admin/bots/${dozing}`, { method: 'PATCH', key, body: { enabled: true } });
    expect(woken.status).toBe(200);
    expect(await answerChannelMessage(deps, job)).toBe('duplicate');
    expect(graph.calls).toEqual([]);
  });

  it('a disabled bot answers nothing', async () => {
    const bot = await api('/admin/bots', { key, body: { name: 'Asleep', enabled: false } });
    await connectInstagram(bot.json.bot.id);
    const job = { ...imageJob(), botId: bot.json.bot.id as string };
    expect(await answerChannelMessage(deps, job)).toBe('skipped');
    expect(graph.calls).toEqual([]);
  });

  it('a disconnected channel answers nothing', async () => {
    await api(`/admin/bots/${botId}/channels/instagram`, { method: 'DELETE', key });
    const job = imageJob();
    expect(await answerChannelMessage(deps, job)).toBe('skipped');
    expect(graph.calls).toEqual([]);
  });
});
