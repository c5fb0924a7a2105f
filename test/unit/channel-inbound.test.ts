import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  type InboundMessage,
  InboundPayloadError,
  MAX_INBOUND_TEXT,
  replyDeduplicationId,
} from '../../shared/channels/inbound.ts';
import { instagram } from '../../shared/channels/instagram.ts';
import { messenger } from '../../shared/channels/messenger.ts';
import { metaHandshake, verifyMetaSignature } from '../../shared/channels/meta.ts';
import { channelKind } from '../../shared/channels/registry.ts';
import {
  newSecretToken as newTelegramSecretToken,
  secretHeaderMatches as verifyTelegramSecret,
} from '../../shared/channels/signatures.ts';
import { parseTelegramUpdate } from '../../shared/channels/telegram.ts';
import { whatsapp } from '../../shared/channels/whatsapp.ts';
import type { ChannelType } from '../../shared/domain/channel.ts';
import {
  channelFixture,
  channelFixtures,
  FIXTURE_EPOCH_SECONDS,
  instagramText,
  messengerText,
  metaSignature,
  signedMetaRequest,
  telegramRequest,
  telegramText,
  whatsappText,
} from '../support/channels.ts';

/** Meta's products. */
type MetaChannel = 'whatsapp' | 'messenger' | 'instagram';

// The pure inbound side of the channel webhooks: signatures, Meta's handshake, and the parsers
// that turn platform deliveries into the messages Parley answers.

const APP_SECRET = '6f1c0e3a9b8d7c6e5f4a3b2c1d0e9f8a';
const bytes = (text: string) => new TextEncoder().encode(text);

/** A delivery parsed by its channel's kind, as the webhook does it. */
function parse(channel: ChannelType, body: unknown): InboundMessage[] {
  const kind = channelKind(channel);
  if (!kind) throw new Error(`no kind for ${channel}`);
  return kind.parse(body);
}
const parseMetaDelivery = (channel: MetaChannel, body: unknown) => parse(channel, body);
const META_OBJECTS: Record<MetaChannel, string> = {
  whatsapp: whatsapp.object,
  messenger: messenger.object,
  instagram: instagram.object,
};

function payloadError(run: () => unknown): InboundPayloadError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InboundPayloadError);
    return error as InboundPayloadError;
  }
  throw new Error('parsed without an error');
}

describe('Meta signatures', () => {
  // Meta escapes non-ASCII as \uXXXX: the signature covers these bytes, not re-serialised JSON.
  const raw =
    '{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"caf\\u00e9 \\ud83d\\ude00"}}]}]}';
  const body = bytes(raw);
  const header = metaSignature(raw, APP_SECRET);

  it('accepts the HMAC-SHA256 of the raw bytes with the app secret', () => {
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyMetaSignature(body, header, APP_SECRET)).toBe(true);
    expect(verifyMetaSignature(Buffer.from(raw), header, APP_SECRET)).toBe(true);
    // Hex digits in either case are the same bytes; the prefix must be exactly `sha256=`.
    expect(verifyMetaSignature(body, `sha256=${header.slice(7).toUpperCase()}`, APP_SECRET)).toBe(true);
  });

  it('fails for the same JSON serialised again', () => {
    const reserialised = JSON.stringify(JSON.parse(raw));
    expect(reserialised).not.toBe(raw);
    expect(verifyMetaSignature(bytes(reserialised), header, APP_SECRET)).toBe(false);
  });

  it('rejects another secret, and an empty one', () => {
    expect(verifyMetaSignature(body, header, `${APP_SECRET.slice(0, -1)}0`)).toBe(false);
    expect(verifyMetaSignature(body, metaSignature(raw, ''), '')).toBe(false);
  });

  it('rejects a body changed by one byte', () => {
    for (const index of [0, Math.floor(body.length / 2), body.length - 1]) {
      const tampered = Uint8Array.from(body);
      tampered[index] = (tampered[index] ?? 0) ^ 0x01;
      expect(verifyMetaSignature(tampered, header, APP_SECRET)).toBe(false);
    }
    expect(verifyMetaSignature(bytes(`${raw} `), header, APP_SECRET)).toBe(false);
  });

  it('rejects missing, malformed, mis-prefixed and wrong-length headers', () => {
    const hex = header.slice('sha256='.length);
    const sha1 = createHmac('sha1', APP_SECRET).update(body).digest('hex');
    for (const bad of [
      undefined,
      '',
      hex,
      'sha256=',
      `SHA256=${hex}`,
      `Sha256=${hex}`,
      `sha-256=${hex}`,
      `sha1=${sha1}`,
      `sha1=${hex}`,
      ` sha256=${hex}`,
      `sha256=${hex} `,
      `sha256= ${hex}`,
      `sha256=${hex.slice(0, -2)}`,
      `sha256=${hex}00`,
      `sha256=${hex}${hex}`,
      `sha256=${hex.slice(0, -1)}g`,
      `sha256=${hex.slice(0, -1)}`,
      `sha256=${hex},sha256=${hex}`,
    ]) {
      expect(verifyMetaSignature(body, bad, APP_SECRET)).toBe(false);
    }
  });

  it('signs what signedMetaRequest sends', () => {
    const request = signedMetaRequest(channelFixture('whatsapp', 'text'), APP_SECRET);
    expect(verifyMetaSignature(bytes(request.body), request.headers['x-hub-signature-256'], APP_SECRET)).toBe(
      true,
    );
  });
});

describe('Telegram secret token', () => {
  it('accepts exactly the token set on the webhook', () => {
    const token = newTelegramSecretToken();
    expect(verifyTelegramSecret(token, token)).toBe(true);
    expect(
      verifyTelegramSecret(telegramRequest({}, token).headers['x-telegram-bot-api-secret-token'], token),
    ).toBe(true);
    expect(verifyTelegramSecret(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, token)).toBe(
      false,
    );
    expect(
      verifyTelegramSecret(token.toLowerCase() === token ? token.toUpperCase() : token.toLowerCase(), token),
    ).toBe(false);
    expect(verifyTelegramSecret(`${token}x`, token)).toBe(false);
    expect(verifyTelegramSecret(token.slice(1), token)).toBe(false);
    expect(verifyTelegramSecret(undefined, token)).toBe(false);
    expect(verifyTelegramSecret('', token)).toBe(false);
    expect(verifyTelegramSecret('', '')).toBe(false);
  });

  it('makes random tokens Telegram accepts', () => {
    const tokens = new Set(Array.from({ length: 200 }, () => newTelegramSecretToken()));
    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{32,256}$/);
  });
});

describe("Meta's webhook handshake", () => {
  const query = (overrides: Record<string, string | undefined> = {}) => ({
    'hub.mode': 'subscribe',
    'hub.verify_token': 'verify-me-please',
    'hub.challenge': '1158201444',
    ...overrides,
  });

  it('echoes the challenge when mode and token match', () => {
    expect(metaHandshake(query(), 'verify-me-please')).toEqual({ ok: true, challenge: '1158201444' });
  });

  it('refuses a wrong or missing token', () => {
    expect(metaHandshake(query(), 'another-token')).toEqual({ ok: false });
    expect(metaHandshake(query({ 'hub.verify_token': 'verify-me-pleas' }), 'verify-me-please')).toEqual({
      ok: false,
    });
    expect(metaHandshake(query({ 'hub.verify_token': undefined }), 'verify-me-please')).toEqual({
      ok: false,
    });
    expect(metaHandshake(query({ 'hub.verify_token': '' }), '')).toEqual({ ok: false });
  });

  it('refuses another mode', () => {
    expect(metaHandshake(query({ 'hub.mode': 'unsubscribe' }), 'verify-me-please')).toEqual({ ok: false });
    expect(metaHandshake(query({ 'hub.mode': 'Subscribe' }), 'verify-me-please')).toEqual({ ok: false });
    expect(metaHandshake(query({ 'hub.mode': undefined }), 'verify-me-please')).toEqual({ ok: false });
  });

  it('refuses a missing, empty, overlong or odd challenge', () => {
    for (const challenge of [undefined, '', '1'.repeat(257), '<script>alert(1)</script>', '12 34']) {
      expect(metaHandshake(query({ 'hub.challenge': challenge }), 'verify-me-please')).toEqual({ ok: false });
    }
    expect(metaHandshake(query({ 'hub.challenge': '9'.repeat(256) }), 'verify-me-please').ok).toBe(true);
  });
});

// --- parsers over the fixtures ------------------------------------------------------------------

/** When the fixture files' messages were sent. */
const T0 = '2026-01-01T10:00:00.000Z';
/** When the builders' messages are sent (the tests' start). */
const BUILT_AT = new Date(FIXTURE_EPOCH_SECONDS * 1000).toISOString();
const at = (seconds: number, ms = 0) => new Date(Date.parse(T0) + seconds * 1000 + ms).toISOString();

const ADA_TG = { channel: 'telegram', userId: '5812345678', userName: 'Ada Lovelace' } as const;

describe('parseTelegramUpdate', () => {
  const expected: Record<string, InboundMessage[]> = {
    text: [
      {
        ...ADA_TG,
        messageId: '873400001',
        timestamp: T0,
        kind: 'text',
        text: 'What are your opening hours?',
      },
    ],
    command: [{ ...ADA_TG, messageId: '873400002', timestamp: at(5), kind: 'text', text: '/start' }],
    // An edit is answered as a new message, timed at the edit.
    edited_message: [
      {
        ...ADA_TG,
        messageId: '873400003',
        timestamp: at(60),
        kind: 'text',
        text: 'What are your opening hours on Sunday?',
      },
    ],
    // In a group the chat (negative id) is answered, not the member.
    group_text: [
      {
        channel: 'telegram',
        messageId: '873400004',
        userId: '-1002233445566',
        userName: 'Grace',
        timestamp: at(10),
        kind: 'text',
        text: 'Do you ship to Norway?',
      },
    ],
    photo: [
      { ...ADA_TG, messageId: '873400005', timestamp: at(20), kind: 'unsupported', unsupportedType: 'image' },
    ],
    voice: [
      { ...ADA_TG, messageId: '873400006', timestamp: at(30), kind: 'unsupported', unsupportedType: 'voice' },
    ],
    sticker: [
      {
        ...ADA_TG,
        messageId: '873400007',
        timestamp: at(40),
        kind: 'unsupported',
        unsupportedType: 'sticker',
      },
    ],
    document: [
      {
        ...ADA_TG,
        messageId: '873400008',
        timestamp: at(50),
        kind: 'unsupported',
        unsupportedType: 'document',
      },
    ],
    animation: [
      {
        ...ADA_TG,
        messageId: '873400009',
        timestamp: at(55),
        kind: 'unsupported',
        unsupportedType: 'animation',
      },
    ],
    location: [
      {
        ...ADA_TG,
        messageId: '873400010',
        timestamp: at(58),
        kind: 'unsupported',
        unsupportedType: 'location',
      },
    ],
    new_chat_members: [],
    channel_post: [],
    callback_query: [],
    my_chat_member: [],
  };

  it('covers every fixture', () => {
    expect(Object.keys(channelFixtures('telegram')).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (name, messages) => {
    expect(parseTelegramUpdate(channelFixture('telegram', name))).toStrictEqual(messages);
  });

  it('reads what the telegramText builder makes', () => {
    expect(parseTelegramUpdate(telegramText({ updateId: 42, chatId: 99, text: 'hi' }))).toStrictEqual([
      {
        channel: 'telegram',
        messageId: '42',
        userId: '99',
        userName: 'Ada',
        timestamp: BUILT_AT,
        kind: 'text',
        text: 'hi',
      },
    ]);
  });

  it('rejects malformed updates with an InboundPayloadError naming the field', () => {
    const text = channelFixture('telegram', 'text') as { message: Record<string, unknown> };
    const cases: Array<[unknown, string]> = [
      [null, 'update'],
      ['{"update_id":1}', 'update'],
      [[], 'update'],
      [{}, 'update_id'],
      [{ update_id: '873400001', message: text.message }, 'update_id'],
      [{ update_id: -1 }, 'update_id'],
      [{ update_id: 1.5 }, 'update_id'],
      [{ update_id: 1, message: 'hello' }, 'message'],
      [{ update_id: 1, message: null }, 'message'],
      [{ update_id: 1, message: { ...text.message, chat: undefined } }, 'message.chat'],
      [{ update_id: 1, message: { ...text.message, chat: { id: '5812345678' } } }, 'message.chat.id'],
      [{ update_id: 1, message: { ...text.message, date: 'yesterday' } }, 'message.date'],
      [{ update_id: 1, message: { ...text.message, date: undefined } }, 'message.date'],
      [{ update_id: 1, message: { ...text.message, text: 42 } }, 'message.text'],
      [{ update_id: 1, edited_message: { ...text.message, edit_date: -5 } }, 'edited_message.edit_date'],
    ];
    for (const [update, path] of cases) {
      const error = payloadError(() => parseTelegramUpdate(update));
      expect(error.path).toBe(path);
      expect(error.status).toBe(400);
      expect(error.reason).toBe('malformed');
    }
  });

  it('tolerates odd cosmetic fields and ignores update kinds it does not answer', () => {
    const text = channelFixture('telegram', 'text') as { message: Record<string, unknown> };
    expect(
      parseTelegramUpdate({ update_id: 1, message: { ...text.message, from: 'someone' } }),
    ).toStrictEqual([
      {
        channel: 'telegram',
        messageId: '1',
        userId: '5812345678',
        timestamp: T0,
        kind: 'text',
        text: expect.any(String),
      },
    ]);
    expect(parseTelegramUpdate({ update_id: 2, inline_query: { id: 'x', query: 'hi' } })).toEqual([]);
    expect(parseTelegramUpdate({ update_id: 3, message: { ...text.message, text: '   ' } })).toEqual([]);
  });
});

const WA = {
  channel: 'whatsapp',
  userId: '16315551181',
  recipientId: '106540352242922',
  userName: 'Ada Lovelace',
} as const;
const wamid = (s: string) => `wamid.HBgLMTYzMTU1NTExODEVAgASGBQz${s}QjNCMzE0NUEyRgA=`;

describe('parseMetaDelivery: WhatsApp', () => {
  const unsupported = (id: string, type: string, seconds = 0): InboundMessage => ({
    ...WA,
    messageId: wamid(id),
    timestamp: at(seconds),
    kind: 'unsupported',
    unsupportedType: type as never,
  });
  const text = (id: string, value: string): InboundMessage => ({
    ...WA,
    messageId: wamid(id),
    timestamp: T0,
    kind: 'text',
    text: value,
  });
  const expected: Record<string, InboundMessage[]> = {
    text: [
      {
        channel: 'whatsapp',
        messageId: 'wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUFCMkE0RjQ2QjNCMzE0NUEyRgA=',
        userId: '16315551181',
        recipientId: '106540352242922',
        userName: 'Ada Lovelace',
        timestamp: T0,
        kind: 'text',
        text: 'What are your opening hours?',
      },
    ],
    // Two entries; the first has two messages from two users and a change with only statuses.
    batch: [
      text('MDAwMDAwMDAx', 'Hello'),
      {
        ...WA,
        userId: '447700900123',
        userName: 'Grace Hopper',
        messageId: wamid('MDAwMDAwMDAy'),
        timestamp: at(1),
        kind: 'text',
        text: 'Do you ship to Norway?',
      },
      unsupported('MDAwMDAwMDAz', 'image', 3),
    ],
    statuses: [],
    image: [unsupported('SU1BR0UwMDAx', 'image')],
    voice: [unsupported('Vk9JQ0UwMDAx', 'voice')],
    audio: [unsupported('QVVESU8wMDAx', 'audio')],
    unsupported_mix: [
      unsupported('TUlYMDAwMDAx', 'video', 0),
      unsupported('TUlYMDAwMDAy', 'document', 1),
      unsupported('TUlYMDAwMDAz', 'sticker', 2),
      unsupported('TUlYMDAwMDA0', 'location', 3),
      unsupported('TUlYMDAwMDA1', 'contact', 4),
      unsupported('TUlYMDAwMDA2', 'other', 5),
    ],
    button_reply: [text('QlVUVE9OMDAx', 'Opening hours')],
    list_reply: [text('TElTVDAwMDAx', 'Shipping to Norway')],
    template_button: [text('VEVNUExBVEUx', 'Talk to us')],
    reaction: [],
    system: [],
    group: [],
    account_update: [],
  };

  it('covers every fixture', () => {
    expect(Object.keys(channelFixtures('whatsapp')).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (name, messages) => {
    expect(parseMetaDelivery('whatsapp', channelFixture('whatsapp', name))).toStrictEqual(messages);
  });

  it('reads what the whatsappText builder makes', () => {
    const body = whatsappText({ phoneNumberId: '111', from: '15550001111', id: 'wamid.X', text: 'hi' });
    expect(parseMetaDelivery('whatsapp', body)).toStrictEqual([
      {
        channel: 'whatsapp',
        messageId: 'wamid.X',
        userId: '15550001111',
        recipientId: '111',
        userName: 'Ada Lovelace',
        timestamp: BUILT_AT,
        kind: 'text',
        text: 'hi',
      },
    ]);
  });

  it('does not take a type named like an Object property for a known one', () => {
    for (const type of ['constructor', '__proto__', 'toString']) {
      const body = channelFixture('whatsapp', 'image') as WhatsAppBody;
      const message = body.entry[0].changes[0].value.messages[0];
      message.type = type;
      expect(parseMetaDelivery('whatsapp', body)[0]?.unsupportedType).toBe('other');
    }
  });
});

type WhatsAppBody = {
  entry: [{ changes: [{ value: { messages: [Record<string, unknown>] } }] }];
};

const PAGE = '104503578930214';
const mid = (s: string) =>
  `m_${s}Q7vLrX0aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5cE7gI9kM1oQ3sU5wY7aC9eG1iK3mO5qS7uW9yA`;
const FB = { channel: 'messenger', userId: '7012345678901234', recipientId: PAGE } as const;

describe('parseMetaDelivery: Messenger', () => {
  const unsupported = (id: string, type: string): InboundMessage => ({
    ...FB,
    messageId: mid(id),
    timestamp: T0,
    kind: 'unsupported',
    unsupportedType: type as never,
  });
  const expected: Record<string, InboundMessage[]> = {
    text: [
      {
        channel: 'messenger',
        messageId: mid('TEXT0001'),
        userId: '7012345678901234',
        recipientId: '104503578930214',
        timestamp: T0,
        kind: 'text',
        text: 'What are your opening hours?',
      },
    ],
    quick_reply: [{ ...FB, messageId: mid('QUICK001'), timestamp: T0, kind: 'text', text: 'Opening hours' }],
    // Two entries with a read and a delivery between the messages.
    batch: [
      { ...FB, messageId: mid('BATCH001'), timestamp: T0, kind: 'text', text: 'Hello' },
      {
        ...FB,
        userId: '7098765432109876',
        messageId: mid('BATCH002'),
        timestamp: at(0, 3),
        kind: 'text',
        text: 'Do you ship to Norway?',
      },
      {
        ...FB,
        messageId: mid('BATCH003'),
        timestamp: at(0, 4),
        kind: 'unsupported',
        unsupportedType: 'image',
      },
    ],
    echo: [],
    read: [],
    delivery: [],
    reaction: [],
    message_edit: [],
    image: [unsupported('IMAGE001', 'image')],
    sticker: [unsupported('STICK001', 'sticker')],
    audio: [unsupported('AUDIO001', 'audio')],
    file: [unsupported('FILE0001', 'document')],
    postback: [{ ...FB, messageId: mid('POSTB001'), timestamp: T0, kind: 'text', text: 'Get Started' }],
    postback_without_mid: [
      {
        ...FB,
        messageId: 'postback:7012345678901234:1767261600000',
        timestamp: T0,
        kind: 'text',
        text: 'Opening hours',
      },
    ],
    standby: [],
  };

  it('covers every fixture', () => {
    expect(Object.keys(channelFixtures('messenger')).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (name, messages) => {
    expect(parseMetaDelivery('messenger', channelFixture('messenger', name))).toStrictEqual(messages);
  });

  it('reads what the messengerText builder makes, and seconds as well as milliseconds', () => {
    const body = messengerText({ pageId: '222', senderId: '333', mid: 'm_1', text: 'hi' });
    const expectedMessage = {
      channel: 'messenger',
      messageId: 'm_1',
      userId: '333',
      recipientId: '222',
      timestamp: BUILT_AT,
      kind: 'text',
      text: 'hi',
    };
    expect(parseMetaDelivery('messenger', body)).toStrictEqual([expectedMessage]);
    const event = body.entry[0]?.messaging[0] as { timestamp: unknown };
    event.timestamp = String(FIXTURE_EPOCH_SECONDS);
    expect(parseMetaDelivery('messenger', body)).toStrictEqual([expectedMessage]);
  });

  it('ignores chat-plugin senders known only by user_ref', () => {
    const body = channelFixture('messenger', 'postback') as {
      entry: [{ messaging: [Record<string, unknown>] }];
    };
    body.entry[0].messaging[0].sender = { user_ref: 'USER-REF-ID' };
    expect(parseMetaDelivery('messenger', body)).toEqual([]);
  });

  it('does not take an attachment type named like an Object property for a known one', () => {
    for (const type of ['constructor', '__proto__', 'hasOwnProperty']) {
      const body = channelFixture('messenger', 'file') as {
        entry: [{ messaging: [{ message: { attachments: [{ type: string }] } }] }];
      };
      body.entry[0].messaging[0].message.attachments[0].type = type;
      expect(parseMetaDelivery('messenger', body)[0]?.unsupportedType).toBe('other');
    }
  });
});

const IG_ACCOUNT = '17841405309211844';
const igmid = (s: string) =>
  `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1MzA5MjExODQ0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1ODY1NzYyMDk4MjkxNDcxMzozMTUzNjE2NjI5NzE3NTkx${s}ZDZD`;
const IG = { channel: 'instagram', userId: '1254459154682919', recipientId: IG_ACCOUNT } as const;

describe('parseMetaDelivery: Instagram', () => {
  const unsupported = (id: string, type: string): InboundMessage => ({
    ...IG,
    messageId: igmid(id),
    timestamp: T0,
    kind: 'unsupported',
    unsupportedType: type as never,
  });
  const expected: Record<string, InboundMessage[]> = {
    text: [
      {
        channel: 'instagram',
        messageId: igmid('MzY5ODAw'),
        userId: '1254459154682919',
        recipientId: '17841405309211844',
        timestamp: T0,
        kind: 'text',
        text: 'What are your opening hours?',
      },
    ],
    batch: [
      { ...IG, messageId: igmid('QkFUQ0gx'), timestamp: T0, kind: 'text', text: 'Hello' },
      {
        ...IG,
        userId: '2131812345678901',
        messageId: igmid('QkFUQ0gy'),
        timestamp: at(0, 2),
        kind: 'text',
        text: 'Do you ship to Norway?',
      },
      {
        ...IG,
        messageId: igmid('QkFUQ0gz'),
        timestamp: at(0, 3),
        kind: 'unsupported',
        unsupportedType: 'audio',
      },
    ],
    echo: [],
    deleted: [],
    unsupported: [unsupported('VU5TVVAx', 'other')],
    image: [unsupported('SU1BR0Ux', 'image')],
    share: [unsupported('U0hBUkUx', 'share')],
    story_mention: [unsupported('U1RPUlkx', 'story')],
    story_reply: [
      { ...IG, messageId: igmid('UkVQTFkx'), timestamp: T0, kind: 'text', text: 'Is this still available?' },
    ],
    reaction: [],
    read: [],
    postback: [{ ...IG, messageId: igmid('UE9TVEIx'), timestamp: T0, kind: 'text', text: 'Opening hours' }],
  };

  it('covers every fixture', () => {
    expect(Object.keys(channelFixtures('instagram')).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('%s', (name, messages) => {
    expect(parseMetaDelivery('instagram', channelFixture('instagram', name))).toStrictEqual(messages);
  });

  it('reads what the instagramText builder makes', () => {
    expect(
      parseMetaDelivery(
        'instagram',
        instagramText({ accountId: '444', senderId: '555', mid: 'aWdf', text: 'hi' }),
      ),
    ).toStrictEqual([
      {
        channel: 'instagram',
        messageId: 'aWdf',
        userId: '555',
        recipientId: '444',
        timestamp: BUILT_AT,
        kind: 'text',
        text: 'hi',
      },
    ]);
  });
});

describe('parseMetaDelivery: wrong product and malformed deliveries', () => {
  const META: MetaChannel[] = ['whatsapp', 'messenger', 'instagram'];

  it("rejects another product's delivery as wrong_object", () => {
    for (const channel of META) {
      for (const other of META.filter((c) => c !== channel)) {
        const error = payloadError(() => parseMetaDelivery(channel, channelFixture(other, 'text')));
        expect(error).toMatchObject({ path: 'object', reason: 'wrong_object', status: 400, channel });
      }
      const error = payloadError(() => parseMetaDelivery(channel, { entry: [] }));
      expect(error.reason).toBe('wrong_object');
    }
  });

  it('accepts an empty entry list', () => {
    for (const channel of META) {
      expect(parseMetaDelivery(channel, { object: META_OBJECTS[channel], entry: [] })).toEqual([]);
    }
  });

  it('names the malformed field', () => {
    const wa = (value: unknown) => ({
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value }] }],
    });
    const waMessage = (message: Record<string, unknown>) =>
      wa({
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '1', phone_number_id: '106540352242922' },
        messages: [{ from: '16315551181', id: 'wamid.1', timestamp: '1767261600', type: 'text', ...message }],
      });
    const fb = (event: Record<string, unknown>) => ({
      object: 'page',
      entry: [{ id: PAGE, time: 1, messaging: [event] }],
    });
    const fbEvent = {
      sender: { id: '7012345678901234' },
      recipient: { id: PAGE },
      timestamp: 1767261600000,
      message: { mid: 'm_1', text: 'hi' },
    };
    const cases: Array<[MetaChannel, unknown, string]> = [
      ['whatsapp', null, 'body'],
      ['whatsapp', 'not json', 'body'],
      ['whatsapp', [], 'body'],
      ['whatsapp', { object: 'whatsapp_business_account' }, 'entry'],
      ['whatsapp', { object: 'whatsapp_business_account', entry: {} }, 'entry'],
      ['whatsapp', { object: 'whatsapp_business_account', entry: [null] }, 'entry[0]'],
      ['whatsapp', { object: 'whatsapp_business_account', entry: [{ id: '1' }] }, 'entry[0].changes'],
      [
        'whatsapp',
        { object: 'whatsapp_business_account', entry: [{ changes: ['x'] }] },
        'entry[0].changes[0]',
      ],
      ['whatsapp', wa(undefined), 'entry[0].changes[0].value'],
      ['whatsapp', wa({ messages: {} }), 'entry[0].changes[0].value.messages'],
      ['whatsapp', wa({ messages: [{}] }), 'entry[0].changes[0].value.metadata'],
      ['whatsapp', waMessage({ type: undefined }), 'entry[0].changes[0].value.messages[0].type'],
      [
        'whatsapp',
        waMessage({ from: undefined, text: { body: 'hi' } }),
        'entry[0].changes[0].value.messages[0].from',
      ],
      ['whatsapp', waMessage({ id: 7.5, text: { body: 'hi' } }), 'entry[0].changes[0].value.messages[0].id'],
      [
        'whatsapp',
        waMessage({ timestamp: 'now', text: { body: 'hi' } }),
        'entry[0].changes[0].value.messages[0].timestamp',
      ],
      ['whatsapp', waMessage({ text: 'hi' }), 'entry[0].changes[0].value.messages[0].text'],
      ['whatsapp', waMessage({ text: { body: ['hi'] } }), 'entry[0].changes[0].value.messages[0].text.body'],
      ['whatsapp', waMessage({ type: 'interactive' }), 'entry[0].changes[0].value.messages[0].interactive'],
      [
        'whatsapp',
        waMessage({ type: 'interactive', interactive: { type: 'button_reply' } }),
        'entry[0].changes[0].value.messages[0].interactive.button_reply',
      ],
      ['messenger', { object: 'page', entry: [{ id: PAGE, messaging: {} }] }, 'entry[0].messaging'],
      ['messenger', fb(null as never), 'entry[0].messaging[0]'],
      ['messenger', fb({ ...fbEvent, message: 'hi' }), 'entry[0].messaging[0].message'],
      ['messenger', fb({ ...fbEvent, sender: undefined }), 'entry[0].messaging[0].sender'],
      ['messenger', fb({ ...fbEvent, sender: { id: '' } }), 'entry[0].messaging[0].sender.id'],
      ['messenger', fb({ ...fbEvent, recipient: {} }), 'entry[0].messaging[0].recipient.id'],
      ['messenger', fb({ ...fbEvent, timestamp: undefined }), 'entry[0].messaging[0].timestamp'],
      ['messenger', fb({ ...fbEvent, timestamp: 1e300 }), 'entry[0].messaging[0].timestamp'],
      ['messenger', fb({ ...fbEvent, message: { text: 'hi' } }), 'entry[0].messaging[0].message.mid'],
      [
        'messenger',
        fb({ ...fbEvent, message: { mid: 'm_1', text: { body: 'hi' } } }),
        'entry[0].messaging[0].message.text',
      ],
      [
        'messenger',
        fb({ ...fbEvent, message: { mid: 'm_1', attachments: 'image' } }),
        'entry[0].messaging[0].message.attachments',
      ],
      [
        'messenger',
        fb({ ...fbEvent, message: { mid: 'm_1', attachments: [null] } }),
        'entry[0].messaging[0].message.attachments[0]',
      ],
      [
        'messenger',
        fb({ ...fbEvent, message: undefined, postback: 'GET_STARTED' }),
        'entry[0].messaging[0].postback',
      ],
      [
        'instagram',
        {
          object: 'instagram',
          entry: [{ id: IG_ACCOUNT, messaging: [{ ...fbEvent, message: { mid: 5.5 } }] }],
        },
        'entry[0].messaging[0].message.mid',
      ],
    ];
    for (const [channel, body, path] of cases) {
      const error = payloadError(() => parseMetaDelivery(channel, body));
      expect({ channel, path: error.path, reason: error.reason }).toEqual({
        channel,
        path,
        reason: 'malformed',
      });
      expect(error.message).toContain(path);
    }
  });

  it('never echoes message content in its error', () => {
    const body = channelFixture('messenger', 'text') as {
      entry: [{ messaging: [{ timestamp: unknown; message: { text: string } }] }];
    };
    body.entry[0].messaging[0].timestamp = 'secret-user-words';
    const error = payloadError(() => parseMetaDelivery('messenger', body));
    expect(error.message).not.toContain('secret-user-words');
    expect(error.message).not.toContain('opening hours');
  });
});

describe('robustness: every field of every fixture replaced by junk', () => {
  const JUNK: unknown[] = [null, 0, -1, 1.5, 1e300, '', 'x', true, [], {}, [null], { id: {} }];

  function* mutations(value: unknown): Generator<unknown> {
    if (Array.isArray(value) || (typeof value === 'object' && value !== null)) {
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [key, child] of entries) {
        for (const junk of [undefined, ...JUNK]) yield replace(value, key, junk);
        for (const mutated of mutations(child)) yield replace(value, key, mutated);
      }
    }
  }
  function replace(container: unknown, key: string, child: unknown): unknown {
    if (Array.isArray(container)) {
      const copy = [...container];
      copy[Number(key)] = child;
      return copy;
    }
    const copy = { ...(container as Record<string, unknown>) };
    if (child === undefined) delete copy[key];
    else copy[key] = child;
    return copy;
  }

  it.each(['telegram', 'whatsapp', 'messenger', 'instagram'] as const)('%s', (channel) => {
    let parsed = 0;
    let rejected = 0;
    for (const fixture of Object.values(channelFixtures(channel))) {
      for (const body of mutations(fixture)) {
        try {
          for (const message of parse(channel, body)) {
            expect(message.channel).toBe(channel);
            expect(typeof message.messageId).toBe('string');
            expect(message.userId).toMatch(/^\S+$/);
            expect(new Date(message.timestamp).toISOString()).toBe(message.timestamp);
            if (message.kind === 'text') expect(message.text.trim()).not.toBe('');
            else expect(typeof message.unsupportedType).toBe('string');
          }
          parsed++;
        } catch (error) {
          // Anything else (a TypeError, a RangeError) would be a 500 instead of a 400.
          if (!(error instanceof InboundPayloadError)) throw error;
          rejected++;
        }
      }
    }
    expect(parsed).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});

describe('inbound text and deduplication', () => {
  it(`keeps at most ${MAX_INBOUND_TEXT} characters, without splitting a surrogate pair`, () => {
    const long = 'a'.repeat(5000);
    const [plain] = parseMetaDelivery(
      'whatsapp',
      whatsappText({ phoneNumberId: '1', from: '2', id: 'wamid.1', text: long }),
    );
    expect(plain?.text).toBe('a'.repeat(MAX_INBOUND_TEXT));
    const emoji = `${'a'.repeat(MAX_INBOUND_TEXT - 1)}😀tail`;
    const [cut] = parseTelegramUpdate(telegramText({ updateId: 1, chatId: 2, text: emoji }));
    expect(cut?.text).toBe('a'.repeat(MAX_INBOUND_TEXT - 1));
    const exact = 'b'.repeat(MAX_INBOUND_TEXT);
    const [kept] = parseMetaDelivery(
      'messenger',
      messengerText({ pageId: '1', senderId: '2', mid: 'm', text: exact }),
    );
    expect(kept?.text).toBe(exact);
  });

  it('makes a queue-safe deduplication id per bot, channel and platform id', () => {
    const [message] = parseTelegramUpdate(channelFixture('telegram', 'text'));
    if (!message) throw new Error('no message');
    const id = replyDeduplicationId('bot_a', message);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(replyDeduplicationId('bot_a', message)).toBe(id);
    // Telegram update ids are per-bot counters: the same number from another bot is another message.
    expect(replyDeduplicationId('bot_b', message)).not.toBe(id);
    expect(replyDeduplicationId('bot_a', { ...message, channel: 'messenger' })).not.toBe(id);
    // Instagram mids are longer than SQS's 128-character limit for the raw id.
    const [instagram] = parseMetaDelivery('instagram', channelFixture('instagram', 'text'));
    expect(instagram?.messageId.length).toBeGreaterThan(128);
    expect(replyDeduplicationId('bot_a', instagram as InboundMessage)).toHaveLength(64);
  });
});
