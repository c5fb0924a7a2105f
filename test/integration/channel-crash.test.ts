// A reply is never sent twice, even when the worker dies between the send and the queue's
// acknowledgement: the platform process is killed (SIGKILL, no cleanup) right after Telegram took
// the reply but before its answer came back, then started again on the same data. The message is
// delivered again; the worker finds the send record it wrote before the send, unconfirmed, and does
// not send again: it logs the case and counts it (the UnconfirmedReplies metric an alarm watches).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { replyDeduplicationId } from '../../shared/channels/inbound.ts';
import { metricNames } from '../../shared/resources.ts';
import { telegramRequest, telegramText } from '../support/channels.ts';
import { apiAt, documentClientAt, runtimeOf, TEST_OUTPUT_DIR } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';
import {
  DEFAULT_TELEGRAM_TOKEN,
  startTelegramServer,
  type TelegramWireServer,
} from '../support/wire/telegram-server.ts';

let telegram: TelegramWireServer;
let first: OwnPlatform | undefined;
let second: OwnPlatform | undefined;
const logOf = (name: string) => join(TEST_OUTPUT_DIR, `platform-channel-crash-${name}.log`);

const start = (name: string, reuse?: OwnPlatform) =>
  spawnOwnPlatform({
    name: 'channel-crash',
    logFile: logOf(name),
    reuse,
    env: {
      LOG_LEVEL: 'INFO',
      TELEGRAM_API_BASE_URL: telegram.url,
      PUBLIC_BASE_URL: 'https://bots.example.com',
      PARLEY_TEST_HOOKS: '1',
      // A message in flight when the worker dies comes back after this, not after minutes.
      PARLEY_TEST_VISIBILITY_TIMEOUT_SECONDS: '3',
    },
  });

beforeAll(async () => {
  telegram = await startTelegramServer();
  first = await start('before');
}, 120_000);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await telegram?.close();
});

it('kills the worker between the send and the acknowledgement: no second reply', async () => {
  if (!first) throw new Error('no platform');
  const call = (base: string, path: string, options: Parameters<typeof apiAt>[2] = {}) =>
    apiAt(base, path, options);
  const tenant = await call(first.baseUrl, '/admin/tenants', {
    key: first.operatorKey,
    body: { name: 'Crash' },
  });
  const key: string = tenant.json.apiKey;
  const tenantId: string = tenant.json.tenant.id;
  const bot = await call(first.baseUrl, '/admin/bots', { key, body: { name: 'Survivor' } });
  const botId: string = bot.json.bot.id;
  const connected = await call(first.baseUrl, `/admin/bots/${botId}/channels/telegram`, {
    method: 'PUT',
    key,
    body: { botToken: DEFAULT_TELEGRAM_TOKEN },
  });
  expect(connected.status).toBe(200);
  const secret = telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)?.secretToken ?? '';

  // Telegram delivers the reply, but its answer never reaches the worker.
  telegram.failNext(1, { kind: 'lose_answer' });
  const update = telegramText({ updateId: 5001, chatId: 4242, text: 'Are you still there?' });
  const delivery = telegramRequest(update, secret);
  const res = await call(first.baseUrl, `/webhooks/telegram/${botId}`, {
    method: 'POST',
    rawBody: delivery.body,
    headers: delivery.headers,
  });
  expect(res.json).toEqual({ queued: 1, foreign: 0 });
  await waitFor(() => telegram.sent.length === 1, { what: 'the reply reaching Telegram' });
  const exited = new Promise((resolve) => first?.child.once('exit', resolve));
  first.child.kill('SIGKILL');
  await exited;

  // Started again on the same data: the queue delivers the message again.
  second = await start('after', first);
  const runtime = runtimeOf(second.dataDir);
  const db = documentClientAt(second.dataDir);
  const sendRecord = async () =>
    (
      await db.send(
        new GetCommand({
          TableName: runtime.env.USAGE_TABLE,
          Key: {
            pk: `REPLY#${tenantId}#${botId}`,
            sk: `SEND#${replyDeduplicationId(botId, { channel: 'telegram', messageId: '5001' })}`,
          },
          ConsistentRead: true,
        }),
      )
    ).Item;
  try {
    await waitFor(async () => (await sendRecord())?.state === 'unconfirmed', {
      timeoutMs: 30_000,
      what: 'the redelivered message finding its unconfirmed send record',
    });
  } finally {
    db.destroy();
  }
  // The record is marked just before the line is logged: wait for the line too.
  const log = () => readFileSync(logOf('after'), 'utf8');
  await waitFor(() => log().includes('reply not confirmed: a previous attempt stopped mid-send'), {
    what: 'the log line of the unconfirmed reply',
  });
  // The count, as the embedded-metric-format line CloudWatch reads.
  await waitFor(() => new RegExp(`"${metricNames.unconfirmedReplies}":1`).test(log()), {
    what: 'the UnconfirmedReplies metric line',
  });

  // One reply in all, and only the one send.
  expect(telegram.sent).toHaveLength(1);
  expect(telegram.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);

  // The user's next message is answered as usual.
  const next = telegramRequest(telegramText({ updateId: 5002, chatId: 4242, text: 'Hello again' }), secret);
  await call(second.baseUrl, `/webhooks/telegram/${botId}`, {
    method: 'POST',
    rawBody: next.body,
    headers: next.headers,
  });
  await waitFor(() => telegram.sent.length === 2, { what: 'the next reply' });
  expect(telegram.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(2);
}, 120_000);
