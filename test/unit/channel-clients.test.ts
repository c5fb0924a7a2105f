// The outbound channel clients through the real `fetch`, against local servers that speak the
// Telegram Bot API (test/support/wire/telegram-server.ts) and the Graph API's messages endpoints
// (test/support/wire/graph-server.ts), including their failures: long replies split within each
// platform's limit, throttling then success, 5xx until the client gives up, refused tokens,
// timeouts, Telegram refusing the HTML, and tokens kept out of every error.

import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { ClientOptions } from '../../shared/channels/kind.ts';
import { kindOf } from '../../shared/channels/registry.ts';
import { telegram } from '../../shared/channels/telegram.ts';
import type { ChannelCredentials } from '../../shared/domain/channel.ts';
import { ChannelSendError } from '../../shared/ports/channel-client.ts';
import { type GraphWireServer, startGraphServer } from '../support/wire/graph-server.ts';
import {
  DEFAULT_TELEGRAM_TOKEN,
  startTelegramServer,
  type TelegramWireServer,
} from '../support/wire/telegram-server.ts';

/** Meta's products. */
type MetaChannel = 'whatsapp' | 'messenger' | 'instagram';

/** Small budgets so failures end well within two seconds. */
const fast = { baseMs: 5, maxMs: 20, deadlineMs: 1_500, attemptTimeoutMs: 300 };

const rejection = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelSendError);
  return error as ChannelSendError;
};

/** Everything an error shows (message, stack, causes, properties) holds none of the secrets. */
const expectNoSecrets = (error: unknown, secrets: readonly string[]) => {
  const shown = `${inspect(error, { depth: 10 })}\n${String(error)}`;
  for (const secret of secrets) expect(shown).not.toContain(secret);
};

/** A Markdown reply of `count` numbered paragraphs (~290 characters each), to split. */
const numberedReply = (count: number) =>
  Array.from(
    { length: count },
    (_, i) =>
      `Paragraph ${i}: **Refunds** are issued within *30 days* of purchase [1]. Items must be unused & in their original packaging <see terms>. See [the refund policy](https://example.com/refunds?p=${i}) for the details, exceptions and the steps to follow.`,
  ).join('\n\n');

const paragraphNumbers = (texts: readonly string[]) =>
  texts.flatMap((t) => [...t.matchAll(/Paragraph (\d+):/g)].map((m) => Number(m[1])));

/** The Telegram kind's client (its formatting, its Bot API client) with a test's options. */
const createTelegramClient = (options: ClientOptions) => telegram.client({}, options);

describe('Telegram client', () => {
  let server: TelegramWireServer;
  const token = DEFAULT_TELEGRAM_TOKEN;
  const credentials = { botToken: token };
  const client = (options = {}) => createTelegramClient({ baseUrl: server.url, ...fast, ...options });

  beforeAll(async () => {
    server = await startTelegramServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  test('a long reply arrives split within 4096 characters, in order, one sendMessage per part as HTML', async () => {
    const reply = numberedReply(40); // ~12 000 characters
    const { messageIds } = await client().send(credentials, '42', reply);
    expect(server.sent.length).toBeGreaterThanOrEqual(3);
    expect(messageIds).toEqual(server.sent.map((m) => String(m.messageId)));
    expect(paragraphNumbers(server.sent.map((m) => m.text))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const message of server.sent) {
      expect(message).toMatchObject({ channel: 'telegram', to: '42', parseMode: 'HTML' });
      expect(message.text.length).toBeLessThanOrEqual(4096);
      expect(message.raw).toContain('<b>Refunds</b>');
      expect(message.raw).toContain('<a href="https://example.com/refunds?p=');
      expect(message.text).toContain('unused & in their original packaging <see terms>');
    }
    expect(server.calls.map((c) => [c.method, c.encoding, c.status])).toEqual(
      server.sent.map(() => ['sendMessage', 'json', 200]),
    );
    expect(Object.keys(server.calls[0]?.params ?? {}).sort()).toEqual(['chat_id', 'parse_mode', 'text']);
  });

  test('a blank reply sends nothing', async () => {
    await expect(client().send(credentials, '42', ' \n ')).resolves.toEqual({ messageIds: [] });
    expect(server.calls).toHaveLength(0);
  });

  test('429 with retry_after, then success: one delivery, after the wait Telegram asked for', async () => {
    server.failNext(1, { kind: 'rate_limit', retryAfter: 1 });
    const retries: unknown[] = [];
    const started = performance.now();
    await client({ deadlineMs: 3_000, onRetry: (info: unknown) => retries.push(info) }).send(
      credentials,
      '42',
      'Hi!',
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(server.sent.map((m) => m.text)).toEqual(['Hi!']);
    expect(server.calls.map((c) => c.status)).toEqual([429, 200]);
    expect(retries).toEqual([
      expect.objectContaining({
        method: 'sendMessage',
        attempt: 1,
        status: 429,
        delayMs: expect.any(Number),
      }),
    ]);
    expectNoSecrets(retries, [token]);
  });

  test('a retry_after beyond the budget gives up at once instead of waiting', async () => {
    server.failNext(1, { kind: 'rate_limit', retryAfter: 30 });
    const started = performance.now();
    const error = await rejection(client().send(credentials, '42', 'Hi!'));
    expect(performance.now() - started).toBeLessThan(500);
    expect(error).toMatchObject({ channel: 'telegram', failure: 'unavailable', status: 429, delivered: 0 });
    expect(error.message).toContain('Too Many Requests: retry after 30');
    expect(server.calls).toHaveLength(1);
  });

  test('5xx (JSON or a proxy HTML page), then success: one delivery', async () => {
    server.failNext(1, { kind: 'server_error' });
    server.failNext(1, { kind: 'server_error', status: 502 });
    await client().send(credentials, '42', 'Hello');
    expect(server.calls.map((c) => c.status)).toEqual([500, 502, 200]);
    expect(server.sent).toHaveLength(1);
  });

  test('500 until the retries run out: unavailable, with the parts already delivered counted', async () => {
    server.failNext(100, { kind: 'server_error' }, { after: 1 });
    const error = await rejection(client({ retries: 3 }).send(credentials, '42', numberedReply(40)));
    expect(error).toMatchObject({ channel: 'telegram', failure: 'unavailable', status: 500, delivered: 1 });
    expect(error.message).toMatch(/gave up after 4 attempts: Internal Server Error/);
    expect(server.sent).toHaveLength(1);
    expect(server.calls).toHaveLength(1 + 4);
  });

  test('an unknown bot token is rejected (401) without retries, and never shown', async () => {
    const wrong = '987654321:AAFsecretSecretSecretSecret_xyz';
    const error = await rejection(client().send({ botToken: wrong }, '42', 'Hello'));
    expect(error).toMatchObject({ failure: 'rejected', status: 401, delivered: 0 });
    expect(error.message).toContain('Unauthorized');
    expect(server.calls).toHaveLength(1);
    expectNoSecrets(error, [wrong, 'AAFsecret']);

    // A token that is not a Bot API token is refused before any request (it would change the path).
    const odd = await rejection(client().send({ botToken: '123:abc/../../x?y' }, '42', 'Hello'));
    expect(odd.failure).toBe('rejected');
    expect(server.calls).toHaveLength(1);
  });

  test('other refusals (chat not found, blocked by the user) are rejected at once', async () => {
    const notFound = await rejection(client().send(credentials, 'no-such-chat', 'Hello'));
    expect(notFound).toMatchObject({ failure: 'rejected', status: 400 });
    expect(notFound.message).toContain('chat not found');
    server.blockedChats.add('77');
    const blocked = await rejection(client().send(credentials, '77', 'Hello'));
    expect(blocked).toMatchObject({ failure: 'rejected', status: 403 });
    expect(server.calls).toHaveLength(2);
  });

  test('a send without an answer is not repeated (it may have arrived): unknown, after one call', async () => {
    server.failNext(1, { kind: 'hang' });
    const error = await rejection(client().send(credentials, '42', 'Hello'));
    expect(error).toMatchObject({ failure: 'unknown', status: undefined, delivered: 0 });
    expect(error.message).toMatch(/no answer within \d+ ms/);
    expect(server.calls).toHaveLength(1);

    // A split reply: the parts before it count as delivered.
    server.reset();
    server.failNext(1, { kind: 'hang' }, { after: 1 });
    const split = await rejection(client().send(credentials, '42', 'word '.repeat(1000)));
    expect(split).toMatchObject({ failure: 'unknown', delivered: 1 });
    expect(server.calls).toHaveLength(2);
  });

  test('idempotent calls without an answer are retried; no answer at all ends within the budget', async () => {
    server.failNext(1, { kind: 'hang' });
    await client().verify(token);
    expect(server.calls).toHaveLength(2);

    server.reset();
    server.failNext(100, { kind: 'hang' });
    const started = performance.now();
    const error = await rejection(client({ deadlineMs: 800 }).verify(token));
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(error).toMatchObject({ status: undefined, delivered: 0 });
    expect(error.message).toMatch(/no answer within \d+ ms/);
  });

  test("Telegram refusing the HTML (can't parse entities): that part is sent again once, as plain text", async () => {
    server.failNext(1, {
      kind: 'bad_request',
      description: 'Bad Request: can\'t parse entities: Unsupported start tag "b" at byte offset 0',
    });
    const { messageIds } = await client().send(
      credentials,
      '42',
      '**Refunds** take *30 days* [1]. See [the policy](https://example.com/p).',
    );
    expect(messageIds).toHaveLength(1);
    expect(server.calls.map((c) => [c.status, c.params.parse_mode])).toEqual([
      [400, 'HTML'],
      [200, undefined],
    ]);
    expect(server.sent).toEqual([
      expect.objectContaining({
        text: 'Refunds take 30 days [1]. See the policy (https://example.com/p).',
        parseMode: undefined,
      }),
    ]);

    // Only once: a plain text refused as well ends the send.
    server.reset();
    server.failNext(2, { kind: 'bad_request', description: "Bad Request: can't parse entities: whatever" });
    const error = await rejection(client().send(credentials, '42', '**Hi**'));
    expect(error).toMatchObject({ failure: 'rejected', status: 400 });
    expect(server.calls).toHaveLength(2);
  });

  test('the wire server refuses broken HTML and overlong text the way Telegram does', async () => {
    const post = async (params: Record<string, unknown>) => {
      const response = await fetch(`${server.url}/bot${token}/sendMessage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ chat_id: 42, ...params }),
      });
      return { status: response.status, body: await response.json() };
    };
    await expect(post({ text: '<b>bold <i>both</b></i>', parse_mode: 'HTML' })).resolves.toEqual({
      status: 400,
      body: {
        ok: false,
        error_code: 400,
        description:
          'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 15, expected "</i>", found "</b>"',
      },
    });
    await expect(post({ text: '<b>open', parse_mode: 'HTML' })).resolves.toMatchObject({ status: 400 });
    await expect(post({ text: 'x'.repeat(4097) })).resolves.toMatchObject({
      body: { description: 'Bad Request: message is too long' },
    });
    // Entities count once: 4096 visible characters are fine however long the HTML.
    await expect(post({ text: `<b>${'&lt;'.repeat(4096)}</b>`, parse_mode: 'HTML' })).resolves.toMatchObject({
      status: 200,
    });
    // Form fields and the query string, as Telegram takes them.
    const form = await fetch(`${server.url}/bot${token}/sendMessage?chat_id=43`, {
      method: 'POST',
      body: new URLSearchParams({ text: 'from a form' }),
    });
    expect(form.status).toBe(200);
    expect(server.sent.at(-1)).toMatchObject({ to: '43', text: 'from a form' });
    expect(server.calls.at(-1)?.encoding).toBe('form');
  });

  test('tokens never reach an error: connection refused, an unparsable base URL', async () => {
    const closed = await startTelegramServer();
    const url = closed.url;
    await closed.close();
    const refused = await rejection(
      createTelegramClient({ baseUrl: url, ...fast, retries: 1 }).verify(token),
    );
    expect(refused).toMatchObject({ failure: 'unavailable', status: undefined });
    expect(refused.message).toMatch(/the request failed/);
    expectNoSecrets(refused, [token]);

    const broken = await rejection(
      createTelegramClient({ baseUrl: 'http://[::1', ...fast, retries: 0 }).send(credentials, '42', 'Hello'),
    );
    expect(broken.failure).toBe('unavailable');
    expect(broken.message).toContain('<token>'); // fetch quoted the URL; the token was masked
    expectNoSecrets(broken, [token]);
  });

  test('verify (getMe), setWebhook and deleteWebhook round trips', async () => {
    const telegram = client();
    await expect(telegram.verify(token)).resolves.toEqual({
      id: 123456789,
      username: server.usernameOf(token),
    });

    await telegram.setWebhook(token, 'https://parley.example.com/webhooks/telegram/bot_1', 'secret_ABC-123');
    expect(server.webhookOf(token)).toEqual({
      url: 'https://parley.example.com/webhooks/telegram/bot_1',
      secretToken: 'secret_ABC-123',
      allowedUpdates: ['message', 'edited_message'],
      dropPendingUpdates: false,
    });
    const info = await (await fetch(`${server.url}/bot${token}/getWebhookInfo`)).json();
    expect(info).toMatchObject({
      ok: true,
      result: {
        url: 'https://parley.example.com/webhooks/telegram/bot_1',
        allowed_updates: ['message', 'edited_message'],
      },
    });
    expect(JSON.stringify(info)).not.toContain('secret_ABC-123');

    await telegram.deleteWebhook(token);
    expect(server.webhookOf(token)).toBeUndefined();
    expect(server.calls.map((c) => c.method)).toEqual([
      'getMe',
      'setWebhook',
      'getWebhookInfo',
      'deleteWebhook',
    ]);
    expect(server.calls.at(-1)?.params).toEqual({ drop_pending_updates: true });

    const refused = await rejection(telegram.verify('111111111:AAAnotAKnownTokenAtAll_000'));
    expect(refused).toMatchObject({ failure: 'rejected', status: 401 });
    const http = await rejection(telegram.setWebhook(token, 'http://parley.example.com/hook', 'secret'));
    expect(http).toMatchObject({ failure: 'rejected', status: 400 });
    expect(http.message).toContain('An HTTPS URL must be provided for webhook');
  });
});

describe('Meta client (WhatsApp, Messenger, Instagram)', () => {
  let server: GraphWireServer;
  const client = <C extends MetaChannel>(channel: C, options = {}) =>
    kindOf(channel).client({}, { baseUrl: server.url, ...fast, ...options });

  const credentialsOf = <C extends MetaChannel>(channel: C): ChannelCredentials[C] => {
    const account = server.account(channel);
    const common = { appSecret: 'app-secret-wire', verifyToken: 'verify-token-wire' };
    const credentials = {
      whatsapp: { phoneNumberId: account.id, accessToken: account.token, ...common },
      messenger: { pageId: account.id, pageAccessToken: account.token, ...common },
      instagram: { accountId: account.id, pageAccessToken: account.token, ...common },
    };
    return credentials[channel] as ChannelCredentials[C];
  };
  const recipients: Record<MetaChannel, string> = {
    whatsapp: '+15551234567',
    messenger: '24680135792468',
    instagram: '17841499999999999',
  };

  beforeAll(async () => {
    server = await startGraphServer();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  test.each([
    ['whatsapp', 4096, 'chars'],
    ['messenger', 2000, 'chars'],
    ['instagram', 1000, 'bytes'],
  ] as const)(
    '%s: a long reply arrives split within %i %s, in order, one request per part',
    async (channel, max, unit) => {
      const reply = `${numberedReply(14)}\n\n${'返金ポリシーについて🙂。'.repeat(60)}`;
      const { messageIds } = await client(channel).send(credentialsOf(channel), recipients[channel], reply);
      const sent = server.sent;
      expect(sent.length).toBeGreaterThan(1);
      expect(messageIds).toEqual(sent.map((m) => m.messageId));
      expect(paragraphNumbers(sent.map((m) => m.text))).toEqual(Array.from({ length: 14 }, (_, i) => i));
      for (const message of sent) {
        expect(message).toMatchObject({ channel, to: recipients[channel] });
        const size = unit === 'bytes' ? Buffer.byteLength(message.text) : message.text.length;
        expect(size).toBeLessThanOrEqual(max);
        if (!message.text.includes('Paragraph')) continue; // the CJK tail
        expect(message.text).toContain(channel === 'whatsapp' ? '*Refunds*' : 'Refunds are issued');
        expect(message.text).toContain('the refund policy (https://example.com/refunds?p=');
      }
      expect(sent.map((m) => m.text).join('')).toContain('返金ポリシーについて🙂。');
      expect(server.calls.every((c) => c.status === 200)).toBe(true);
    },
  );

  test('the requests as each platform documents them: path, bearer token, body', async () => {
    for (const channel of ['whatsapp', 'messenger', 'instagram'] as const) {
      await client(channel).send(credentialsOf(channel), recipients[channel], 'Hello **there**');
    }
    const [whatsapp, messenger, instagram] = server.calls;
    const account = (c: MetaChannel) => server.account(c);
    expect(whatsapp).toMatchObject({ version: 'v23.0', node: account('whatsapp').id });
    expect(whatsapp?.headers.authorization).toBe(`Bearer ${account('whatsapp').token}`);
    expect(whatsapp?.body).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+15551234567',
      type: 'text',
      text: { body: 'Hello *there*', preview_url: false },
    });
    expect(messenger).toMatchObject({ node: account('messenger').id });
    expect(messenger?.headers.authorization).toBe(`Bearer ${account('messenger').token}`);
    expect(messenger?.body).toEqual({
      recipient: { id: recipients.messenger },
      messaging_type: 'RESPONSE',
      message: { text: 'Hello there' },
    });
    expect(instagram).toMatchObject({ node: 'me', channel: 'instagram' });
    expect(instagram?.body).toEqual({
      recipient: { id: recipients.instagram },
      message: { text: 'Hello there' },
    });

    server.reset();
    await client('messenger', { graphVersion: 'v21.0' }).send(
      credentialsOf('messenger'),
      recipients.messenger,
      'Hi',
    );
    expect(server.calls[0]?.version).toBe('v21.0');
    expect(() => kindOf('whatsapp').client({}, { graphVersion: '23' })).toThrow(RangeError);
  });

  test('429, then success: one delivery', async () => {
    server.failNext(1, { kind: 'rate_limit' });
    await client('messenger').send(credentialsOf('messenger'), recipients.messenger, 'Hello');
    expect(server.calls.map((c) => c.status)).toEqual([429, 200]);
    expect(server.sent).toHaveLength(1);
  });

  test.each([
    ['whatsapp', 130429],
    ['messenger', 613],
    ['instagram', 4],
    ['whatsapp', 613],
  ] as const)('%s: HTTP 400 with throttling code %i, then success: one delivery', async (channel, code) => {
    server.failNext(1, { kind: 'throttled', code });
    const { messageIds } = await client(channel).send(credentialsOf(channel), recipients[channel], 'Hello');
    expect(messageIds).toHaveLength(1);
    expect(server.calls.map((c) => c.status)).toEqual([400, 200]);
    expect(server.sent).toHaveLength(1);
  });

  test('500 until the retries run out: unavailable, with the parts already delivered counted', async () => {
    server.failNext(100, { kind: 'server_error' }, { after: 2 });
    const error = await rejection(
      client('messenger', { retries: 2 }).send(
        credentialsOf('messenger'),
        recipients.messenger,
        numberedReply(30),
      ),
    );
    expect(error).toMatchObject({ channel: 'messenger', failure: 'unavailable', status: 500, delivered: 2 });
    expect(error.message).toMatch(/Messenger send: gave up after 3 attempts: An unexpected error/);
    expect(server.sent).toHaveLength(2);
    expect(server.calls).toHaveLength(2 + 3);
  });

  test('a bad token is rejected (OAuthException 190) without retries, and never shown', async () => {
    const token = 'EAAGthisIsASecretPageTokenThatMustNotLeak';
    const error = await rejection(
      client('instagram').send(
        { ...credentialsOf('instagram'), pageAccessToken: token },
        recipients.instagram,
        'Hi',
      ),
    );
    expect(error).toMatchObject({ channel: 'instagram', failure: 'rejected', status: 400, delivered: 0 });
    expect(error.message).toContain('Invalid OAuth access token');
    expect(error.message).toContain('code 190');
    expect(server.calls).toHaveLength(1);
    expectNoSecrets(error, [token]);
  });

  test('other 4xx (an unknown recipient, a permission error) are rejected at once', async () => {
    const unknown = await rejection(client('messenger').send(credentialsOf('messenger'), 'not-a-psid', 'Hi'));
    expect(unknown).toMatchObject({ failure: 'rejected', status: 400 });
    expect(unknown.message).toContain('subcode 2018001');
    server.failNext(1, {
      kind: 'error',
      status: 403,
      code: 10,
      message: '(#10) This message is sent outside of allowed window.',
    });
    const outside = await rejection(
      client('messenger').send(credentialsOf('messenger'), recipients.messenger, 'Hi'),
    );
    expect(outside).toMatchObject({ failure: 'rejected', status: 403 });
    expect(server.calls).toHaveLength(2);
  });

  test('a send without an answer is not repeated (it may have arrived): unknown, after one call', async () => {
    server.failNext(1, { kind: 'hang' });
    const error = await rejection(
      client('whatsapp').send(credentialsOf('whatsapp'), recipients.whatsapp, 'Hello'),
    );
    expect(error).toMatchObject({ failure: 'unknown', status: undefined, delivered: 0 });
    expect(error.message).toMatch(/no answer within \d+ ms/);
    expect(server.calls).toHaveLength(1);
    expectNoSecrets(error, [server.account('whatsapp').token]);
  });

  test('the wire server enforces each text limit (code 100), so the split tests above mean something', async () => {
    const post = async (channel: MetaChannel, body: unknown) => {
      const account = server.account(channel);
      const response = await fetch(`${server.url}/v23.0/${account.id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${account.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    await expect(
      post('instagram', { recipient: { id: recipients.instagram }, message: { text: '🙂'.repeat(251) } }),
    ).resolves.toMatchObject({
      status: 400,
      body: {
        error: {
          code: 100,
          message: '(#100) Length of param message[text] must be less than or equal to 1000',
        },
      },
    });
    await expect(
      post('messenger', {
        recipient: { id: recipients.messenger },
        messaging_type: 'RESPONSE',
        message: { text: 'x'.repeat(2001) },
      }),
    ).resolves.toMatchObject({ status: 400, body: { error: { code: 100 } } });
    await expect(
      post('whatsapp', {
        messaging_product: 'whatsapp',
        to: '15551234567',
        type: 'text',
        text: { body: 'x'.repeat(4097) },
      }),
    ).resolves.toMatchObject({ status: 400, body: { error: { code: 100 } } });
    expect(server.sent).toHaveLength(0);
  });
});
