// Messages from Telegram, WhatsApp, Messenger and Instagram answered end to end: platform-format
// deliveries posted to the webhooks of a platform of its own, whose Telegram and Graph API are
// local servers speaking their wire formats and whose model is an OpenAI-compatible wire server.
// The assertions are on the exact outbound calls those servers received.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { replyDeduplicationId } from '../../shared/channels/inbound.ts';
import { kindOf } from '../../shared/channels/registry.ts';
import { type ReplyJob, replyGroupId } from '../../shared/channels/reply-job.ts';
import type { ChannelType } from '../../shared/domain/channel.ts';
import { LIMIT_NOTICES } from '../../shared/usecases/reply.ts';
import {
  channelFixture,
  instagramText,
  messengerText,
  metaSignature,
  signedMetaRequest,
  telegramRequest,
  telegramText,
  whatsappText,
} from '../support/channels.ts';
import {
  type ApiOptions,
  apiAt,
  queueBacklog,
  runtimeOf,
  sqsClientAt,
  TEST_OUTPUT_DIR,
} from '../support/platform.ts';
import { startEarlyInMinute, waitFor } from '../support/wait.ts';
import { type GraphChannel, type GraphWireServer, startGraphServer } from '../support/wire/graph-server.ts';
import { type OpenAIChatWireServer, startOpenAIChatServer } from '../support/wire/openai-chat-server.ts';
import {
  DEFAULT_TELEGRAM_TOKEN,
  startTelegramServer,
  type TelegramWireServer,
} from '../support/wire/telegram-server.ts';

const APP_SECRET = `${'5'.repeat(28)}ab1e`;
const VERIFY_TOKEN = 'verify-token-of-the-bot-7731';

let telegram: TelegramWireServer;
let graph: GraphWireServer;
let model: OpenAIChatWireServer;
let started: OwnPlatform;
let key: string;
let tenantId: string;
let botId: string;
let telegramSecret: string;

const logFile = join(TEST_OUTPUT_DIR, 'platform-channel-replies.log');
const call = (path: string, options: ApiOptions = {}) => apiAt(started.baseUrl, path, options);
const answerTo = (question: string) => `Answer to: ${question}`;

function credentialsFor(channel: GraphChannel) {
  const account = graph.account(channel);
  const shared = { appSecret: APP_SECRET, verifyToken: VERIFY_TOKEN };
  if (channel === 'whatsapp') return { phoneNumberId: account.id, accessToken: account.token, ...shared };
  if (channel === 'messenger') return { pageId: account.id, pageAccessToken: account.token, ...shared };
  return { accountId: account.id, pageAccessToken: account.token, ...shared };
}

/** A delivery of one text message from `user` on `channel`, as the platform would post it. */
function textDelivery(channel: ChannelType, user: string, id: string, text: string, secret = APP_SECRET) {
  switch (channel) {
    case 'telegram':
      return telegramRequest(
        telegramText({ updateId: Number(id), chatId: Number(user), text }),
        telegramSecret,
      );
    case 'whatsapp':
      return signedMetaRequest(
        whatsappText({ phoneNumberId: graph.account('whatsapp').id, from: user, id, text }),
        secret,
      );
    case 'messenger':
      return signedMetaRequest(
        messengerText({ pageId: graph.account('messenger').id, senderId: user, mid: id, text }),
        secret,
      );
    case 'instagram':
      return signedMetaRequest(
        instagramText({ accountId: graph.account('instagram').id, senderId: user, mid: id, text }),
        secret,
      );
  }
}

/** Another bot on the wire model, connected to a Meta channel with the wire server's account. */
async function botOn(channel: GraphChannel, tenantKey: string, settings: Record<string, unknown>) {
  const bot = await call('/admin/bots', {
    key: tenantKey,
    body: { model: { provider: 'openai', id: 'gpt-4o-mini' }, retrieval: { abstain: false }, ...settings },
  });
  const id: string = bot.json.bot.id;
  const body = credentialsFor(channel);
  const connected = await call(`/admin/bots/${id}/channels/${channel}`, {
    method: 'PUT',
    key: tenantKey,
    body,
  });
  expect(connected.status).toBe(200);
  return id;
}

const post = (
  channel: ChannelType,
  delivery: { body: string; headers: Record<string, string> },
  bot = botId,
) =>
  call(`/webhooks/${channel}/${bot}`, { method: 'POST', rawBody: delivery.body, headers: delivery.headers });

/**
 * The job the webhook queues for `delivery`'s message, queued again under a fresh deduplication
 * id: the message as a platform re-delivers it once the queue's 5-minute de-duplication no longer
 * holds it (Meta re-delivers for up to a day).
 */
async function requeueLater(delivery: { body: string }, channel: ChannelType) {
  const [message] = kindOf(channel).parse(JSON.parse(delivery.body));
  if (!message) throw new Error('the delivery holds no message');
  const key = replyDeduplicationId(botId, message);
  const job: ReplyJob = {
    tenantId,
    botId,
    key,
    message: { ...message, channel },
    receivedAt: new Date().toISOString(),
  };
  const sqs = sqsClientAt(started.dataDir);
  try {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: runtimeOf(started.dataDir).env.REPLY_QUEUE_URL,
        MessageBody: JSON.stringify(job),
        MessageGroupId: replyGroupId(botId, message),
        MessageDeduplicationId: `${key}-later`,
      }),
    );
  } finally {
    sqs.destroy();
  }
}

/** What each channel's server delivered to `user`, as the text the user sees, in order. */
function deliveredTo(channel: ChannelType, user: string): string[] {
  if (channel === 'telegram') return telegram.sent.filter((m) => m.to === user).map((m) => m.text);
  return graph.sent.filter((m) => m.channel === channel && m.to === user).map((m) => m.text);
}

/** The parts as the platform received them: Telegram's HTML, Meta's text. */
function rawDeliveredTo(channel: ChannelType, user: string): string[] {
  if (channel === 'telegram') return telegram.sent.filter((m) => m.to === user).map((m) => m.raw);
  return deliveredTo(channel, user);
}

let sequence = 0;
/** A fresh user (and message ids) per test, so tests never see each other's replies. */
const newUser = () => String(700_000 + ++sequence * 10);
const newId = (channel: ChannelType) =>
  channel === 'telegram' ? String(900_000 + ++sequence) : `${channel}.mid.${++sequence}`;

const CHANNELS: ChannelType[] = ['telegram', 'whatsapp', 'messenger', 'instagram'];

beforeAll(async () => {
  [telegram, graph, model] = await Promise.all([
    startTelegramServer(),
    startGraphServer(),
    startOpenAIChatServer(),
  ]);
  model.answerFor = answerTo;
  started = await spawnOwnPlatform({
    name: 'channel-replies',
    logFile,
    env: {
      LOG_LEVEL: 'DEBUG',
      PUBLIC_BASE_URL: 'https://bots.example.com',
      TELEGRAM_API_BASE_URL: telegram.url,
      META_GRAPH_BASE_URL: graph.url,
      OPENAI_BASE_URL: model.baseURL,
      OPENAI_API_KEY: model.apiKey,
    },
  });
  const tenant = await call('/admin/tenants', { key: started.operatorKey, body: { name: 'Channels' } });
  key = tenant.json.apiKey;
  tenantId = tenant.json.tenant.id;
  const bot = await call('/admin/bots', {
    key,
    body: {
      name: 'Concierge',
      model: { provider: 'openai', id: 'gpt-4o-mini' },
      // No documents: the model answers every message (abstention has its own tests).
      retrieval: { abstain: false },
      maxTokens: 4000,
      unsupportedMessage: 'I can only read text, sorry.',
      rateLimits: { perMinute: 10_000, perSecond: 1_000, perUserPerMinute: 1_000 },
    },
  });
  botId = bot.json.bot.id;
  const connect = (channel: ChannelType, body: unknown) =>
    call(`/admin/bots/${botId}/channels/${channel}`, { method: 'PUT', key, body });
  expect((await connect('telegram', { botToken: DEFAULT_TELEGRAM_TOKEN })).status).toBe(200);
  telegramSecret = telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)?.secretToken ?? '';
  for (const channel of ['whatsapp', 'messenger', 'instagram'] as const) {
    expect((await connect(channel, credentialsFor(channel))).status).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await started?.stop();
  await Promise.all([telegram?.close(), graph?.close(), model?.close()]);
});

beforeEach(() => {
  model.answerFor = answerTo;
});

describe.each(CHANNELS)('%s', (channel) => {
  it('answers each message once, in order per user, through the platform’s API', async () => {
    const user = newUser();
    const questions = ['What time do you open?', 'And on Sundays?', 'Where do I park?'];
    for (const question of questions) {
      const res = await post(channel, textDelivery(channel, user, newId(channel), question));
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ queued: 1, foreign: 0 });
    }
    await waitFor(() => deliveredTo(channel, user).length >= questions.length);
    expect(deliveredTo(channel, user)).toEqual(questions.map(answerTo));
  });

  it('carries the webhook request’s id to the reply’s log lines', async () => {
    const user = newUser();
    const res = await post(channel, textDelivery(channel, user, newId(channel), 'Trace me'));
    const requestId = res.headers['x-request-id'];
    expect(requestId).toEqual(expect.any(String));
    await waitFor(() => deliveredTo(channel, user).length >= 1);
    await waitFor(() =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .some((line) => line.includes('"reply sent"') && line.includes(`"requestId":"${requestId}"`)),
    );
  });

  it('answers a re-delivered message (the same delivery again, or twice in one) only once', async () => {
    const user = newUser();
    const id = newId(channel);
    const delivery = textDelivery(channel, user, id, 'Is there a cloakroom?');
    // The intake takes every delivery alike; what counts is that the message is answered once.
    expect((await post(channel, delivery)).json).toEqual({ queued: 1, foreign: 0 });
    expect((await post(channel, delivery)).json).toEqual({ queued: 1, foreign: 0 });
    // The next message of the same user is answered after anything queued before it, so a second
    // answer to the first would show before its answer.
    await post(channel, textDelivery(channel, user, newId(channel), 'Thanks!'));
    await waitFor(() => deliveredTo(channel, user).length >= 2);
    // Re-delivered after its reply went out, and past the queue's 5-minute de-duplication (a day
    // later, as Meta does): the message's send record still answers it once.
    await requeueLater(delivery, channel);
    await post(channel, textDelivery(channel, user, newId(channel), 'Bye!'));
    await waitFor(() => deliveredTo(channel, user).length >= 3);
    expect(deliveredTo(channel, user)).toEqual([
      answerTo('Is there a cloakroom?'),
      answerTo('Thanks!'),
      answerTo('Bye!'),
    ]);
  });

  it('splits a long reply at the platform’s limit, parts in order', async () => {
    const user = newUser();
    const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
    model.answerFor = () => long;
    await post(channel, textDelivery(channel, user, newId(channel), 'Tell me everything.'));
    const expected = kindOf(channel)
      .format(long)
      .map((part) => part.text);
    expect(expected.length).toBeGreaterThan(1);
    await waitFor(() => deliveredTo(channel, user).length >= expected.length);
    expect(rawDeliveredTo(channel, user)).toEqual(expected);
  });

  it('refuses unsigned and wrongly signed deliveries with 401, and answers none of them', async () => {
    const user = newUser();
    const good = textDelivery(channel, user, newId(channel), 'Signed properly');
    const forged =
      channel === 'telegram'
        ? telegramRequest(JSON.parse(good.body), 'not-the-secret-token')
        : signedMetaRequest(JSON.parse(good.body), `${'0'.repeat(28)}beef`);
    const unsigned = { body: good.body, headers: { 'content-type': 'application/json' } };
    // Meta: the right signature over other bytes, a tampered body. (Telegram signs no bytes: its
    // secret token alone proves the sender.)
    const tampered = {
      body: good.body.replace('Signed properly', 'Signed properly!'),
      headers: good.headers,
    };
    for (const bad of channel === 'telegram' ? [forged, unsigned] : [forged, unsigned, tampered]) {
      const res = await post(channel, bad);
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe('unauthorized');
    }
    await post(channel, textDelivery(channel, user, newId(channel), 'After the forgeries'));
    await waitFor(() => deliveredTo(channel, user).length >= 1);
    expect(deliveredTo(channel, user)).toEqual([answerTo('After the forgeries')]);
  });
});

describe('intake', () => {
  it('answers Meta’s handshake with the challenge only for the right verify token', async () => {
    for (const channel of ['whatsapp', 'messenger', 'instagram'] as const) {
      const handshake = (token: string) =>
        call(
          `/webhooks/${channel}/${botId}?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=1158201444`,
        );
      const ok = await handshake(VERIFY_TOKEN);
      expect(ok.status).toBe(200);
      expect(ok.text).toBe('1158201444');
      expect(ok.headers['content-type']).toMatch(/^text\/plain/);
      const wrong = await handshake('not-the-verify-token');
      expect(wrong.status).toBe(401);
      expect(wrong.text).not.toContain('1158201444');
    }
    expect((await call(`/webhooks/telegram/${botId}?hub.challenge=1`)).status).toBe(404);
    expect(
      (await call(`/webhooks/whatsapp/bot_unknown00000000000000?hub.mode=subscribe&hub.challenge=1`)).status,
    ).toBe(404);
  });

  it('404s unknown bots, unknown channels and channels the bot is not connected to', async () => {
    const other = await call('/admin/bots', { key, body: { name: 'Unconnected' } });
    const delivery = textDelivery('whatsapp', newUser(), newId('whatsapp'), 'Hello?');
    expect((await post('whatsapp', delivery, 'bot_unknown00000000000000')).status).toBe(404);
    expect((await post('whatsapp', delivery, other.json.bot.id)).status).toBe(404);
    expect((await call(`/webhooks/sms/${botId}`, { method: 'POST', rawBody: '{}' })).status).toBe(404);
  });

  it('takes statuses, reads and echoes with 200 and answers nothing; malformed deliveries get 400', async () => {
    const status = signedMetaRequest(channelFixture('whatsapp', 'statuses'), APP_SECRET);
    expect((await post('whatsapp', status)).json).toEqual({ queued: 0, foreign: 0 });
    const echo = signedMetaRequest(channelFixture('messenger', 'echo'), APP_SECRET);
    expect((await post('messenger', echo)).json).toEqual({ queued: 0, foreign: 0 });
    const malformed = signedMetaRequest({ object: 'page', entry: 'nope' }, APP_SECRET);
    const res = await post('messenger', malformed);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('bad_request');
    const notJson = '{"object":';
    const cut = { body: notJson, headers: { 'x-hub-signature-256': metaSignature(notJson, APP_SECRET) } };
    expect((await post('messenger', cut)).status).toBe(400);
  });

  it('answers an image with the bot’s unsupportedMessage, and records the last inbound time', async () => {
    const user = newUser();
    const photo = channelFixture('telegram', 'photo') as {
      update_id: number;
      message: { chat: { id: number } };
    };
    photo.update_id = Number(newId('telegram'));
    photo.message.chat.id = Number(user);
    expect((await post('telegram', telegramRequest(photo, telegramSecret))).json.queued).toBe(1);
    await waitFor(() => deliveredTo('telegram', user).length >= 1);
    expect(deliveredTo('telegram', user)).toEqual(['I can only read text, sorry.']);
    const view = await call(`/admin/bots/${botId}/channels/telegram`, { key });
    expect(view.json.channel.lastInboundAt).toEqual(expect.any(String));
  });
});

describe('platform failures and limits', () => {
  const sendsTo = (user: string) =>
    telegram.calls.filter((c) => c.method === 'sendMessage' && String(c.params.chat_id) === user).length;
  const graphSendsTo = (user: string) => graph.calls.filter((c) => c.body?.recipient?.id === user).length;

  it('Telegram 429 then 200: waits as asked and delivers one reply', async () => {
    const user = newUser();
    telegram.failNext(1, { kind: 'rate_limit', retryAfter: 1 });
    await post('telegram', textDelivery('telegram', user, newId('telegram'), 'Busy?'));
    await waitFor(() => deliveredTo('telegram', user).length >= 1);
    expect(deliveredTo('telegram', user)).toEqual([answerTo('Busy?')]);
    expect(sendsTo(user)).toBe(2);
  });

  it.each([
    ['messenger', { kind: 'throttled', code: 613 }],
    ['instagram', { kind: 'rate_limit', retryAfterSeconds: 1 }],
    ['whatsapp', { kind: 'throttled', code: 130429 }],
  ] as const)('%s throttled (%j) then 200: one delivered reply', async (channel, failure) => {
    const user = newUser();
    graph.failNext(1, failure);
    await post(channel, textDelivery(channel, user, newId(channel), 'Throttled?'));
    await waitFor(() => deliveredTo(channel, user).length >= 1);
    expect(deliveredTo(channel, user)).toEqual([answerTo('Throttled?')]);
    const attempts =
      channel === 'whatsapp' ? graph.calls.filter((c) => c.body?.to === user).length : graphSendsTo(user);
    expect(attempts).toBe(2);
  });

  it('a refusal (the user blocked the bot) is not retried and shows as the channel’s last error', async () => {
    const user = newUser();
    telegram.blockedChats.add(user);
    await post('telegram', textDelivery('telegram', user, newId('telegram'), 'Hello?'));
    await waitFor(async () => {
      const view = await call(`/admin/bots/${botId}/channels/telegram`, { key });
      return /blocked by the user/.test(view.json.channel.lastError ?? '');
    });
    const view = (await call(`/admin/bots/${botId}/channels/telegram`, { key })).json.channel;
    // One user's refusal is not the channel's fault: it stays connected.
    expect(view.status).toBe('connected');
    expect(view.lastErrorAt).toEqual(expect.any(String));
    expect(sendsTo(user)).toBe(1);
    expect(deliveredTo('telegram', user)).toEqual([]);
  });

  it('a token the platform refuses puts the channel in error', async () => {
    const bot = await call('/admin/bots', {
      key,
      body: { name: 'Stale token', model: { provider: 'openai', id: 'gpt-4o-mini' } },
    });
    const staleBot: string = bot.json.bot.id;
    const stale = { ...credentialsFor('messenger'), pageAccessToken: `EAAG${'s'.repeat(36)}` };
    await call(`/admin/bots/${staleBot}/channels/messenger`, { method: 'PUT', key, body: stale });
    const user = newUser();
    await post('messenger', textDelivery('messenger', user, newId('messenger'), 'Anyone?'), staleBot);
    await waitFor(async () => {
      const view = await call(`/admin/bots/${staleBot}/channels/messenger`, { key });
      return view.json.channel.status === 'error';
    });
    const view = (await call(`/admin/bots/${staleBot}/channels/messenger`, { key })).json.channel;
    expect(view.lastError).toMatch(/code 190/);
    expect(view.lastError).not.toContain(stale.pageAccessToken);
    expect(deliveredTo('messenger', user)).toEqual([]);
  });

  it('over the per-user rate limit: one polite notice, then silence, counted', async () => {
    const strictBot = await botOn('whatsapp', key, {
      name: 'Strict',
      rateLimits: { perMinute: 100, perSecond: 100, perUserPerMinute: 1 },
    });
    const user = newUser();
    await startEarlyInMinute();
    for (const text of ['One', 'Two', 'Three', 'Four']) {
      await post('whatsapp', textDelivery('whatsapp', user, newId('whatsapp'), text), strictBot);
    }
    await waitFor(async () => (await queueBacklog(started.dataDir, 'REPLY_QUEUE_URL')) === 0);
    expect(deliveredTo('whatsapp', user)).toEqual([answerTo('One'), LIMIT_NOTICES.rate]);
    await waitFor(() => (readFileSync(logFile, 'utf8').match(/"RepliesLimited":1/g)?.length ?? 0) >= 3, {
      what: 'three RepliesLimited counts',
    });
  });
});

describe('deliveries and quotas', () => {
  it('answers every message of a delivery with several entries and messages, each user their own', async () => {
    const [ada, bob] = [newUser(), newUser()];
    const first = whatsappText({
      phoneNumberId: graph.account('whatsapp').id,
      from: ada,
      id: newId('whatsapp'),
      text: 'First from Ada',
    });
    const second = whatsappText({
      phoneNumberId: graph.account('whatsapp').id,
      from: bob,
      id: newId('whatsapp'),
      text: 'First from Bob',
    });
    const value = first.entry[0]?.changes[0]?.value;
    value?.messages.push({
      ...value.messages[0],
      id: newId('whatsapp'),
      text: { body: 'Second from Ada' },
    } as never);
    const batch = { ...first, entry: [...first.entry, ...second.entry] };
    const res = await post('whatsapp', signedMetaRequest(batch, APP_SECRET));
    expect(res.json).toEqual({ queued: 3, foreign: 0 });
    await waitFor(() => deliveredTo('whatsapp', ada).length >= 2 && deliveredTo('whatsapp', bob).length >= 1);
    expect(deliveredTo('whatsapp', ada)).toEqual([answerTo('First from Ada'), answerTo('Second from Ada')]);
    expect(deliveredTo('whatsapp', bob)).toEqual([answerTo('First from Bob')]);
  });

  it('over the monthly quota: one polite notice per user, then silence', async () => {
    const tenant = await call('/admin/tenants', {
      key: started.operatorKey,
      body: { name: 'Frugal', plan: { monthlyMessages: 1 } },
    });
    const frugalKey: string = tenant.json.apiKey;
    const frugalBot = await botOn('messenger', frugalKey, {
      name: 'Frugal bot',
      rateLimits: { perMinute: 1000, perSecond: 100, perUserPerMinute: 100 },
    });
    const user = newUser();
    for (const text of ['Within the quota', 'Beyond it', 'Still beyond']) {
      await post('messenger', textDelivery('messenger', user, newId('messenger'), text), frugalBot);
    }
    await waitFor(async () => (await queueBacklog(started.dataDir, 'REPLY_QUEUE_URL')) === 0);
    expect(deliveredTo('messenger', user)).toEqual([answerTo('Within the quota'), LIMIT_NOTICES.quota]);
  });
});
