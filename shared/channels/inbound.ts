import { createHash } from 'node:crypto';
import type { ChannelType } from '../domain/channel.ts';
import { BadRequestError } from '../domain/errors.ts';

// Turns what a platform posts to the webhook into the messages Parley answers, with no I/O. Only
// what a user wrote to the bot becomes a message: statuses, echoes of the bot's own messages,
// reads, reactions, edits of Meta messages, channel posts and the like produce nothing, so the
// webhook answers 200 and the platform does not retry. Core fields (ids, timestamps, text) are
// checked strictly and a malformed delivery throws an `InboundPayloadError` (400); cosmetic fields
// (display names) are used only when well-formed. Unknown extra fields are ignored.

/** The most of a user's text that is kept: longer messages are cut (the reply limits are similar). */
export const MAX_INBOUND_TEXT = 4096;

/** What a message Parley cannot read was, to log it and answer with the bot's `unsupportedMessage`. */
export type UnsupportedType =
  | 'image'
  | 'audio'
  | 'voice'
  | 'video'
  | 'document'
  | 'sticker'
  | 'animation'
  | 'location'
  | 'contact'
  | 'poll'
  | 'share'
  | 'story'
  | 'other';

interface InboundBase {
  channel: ChannelType;
  /** The platform's id, for the reply queue's deduplication: Telegram `update_id`; Meta `id` / `mid`. */
  messageId: string;
  /** Whom to answer: Telegram chat id; WhatsApp phone number (`from`); Messenger/Instagram `sender.id`. */
  userId: string;
  /** The phone number id, page id or Instagram account id the message was sent to (Meta only). */
  recipientId?: string;
  /** When the user sent (or, for a Telegram edit, edited) the message, ISO 8601. */
  timestamp: string;
  userName?: string;
}

export type InboundText = InboundBase & { kind: 'text'; text: string; unsupportedType?: undefined };
export type InboundUnsupported = InboundBase & {
  kind: 'unsupported';
  unsupportedType: UnsupportedType;
  text?: undefined;
};
export type InboundMessage = InboundText | InboundUnsupported;

export type MetaChannel = 'whatsapp' | 'messenger' | 'instagram';

/** The `object` each Meta product's deliveries carry. */
export const META_OBJECTS: Record<MetaChannel, string> = {
  whatsapp: 'whatsapp_business_account',
  messenger: 'page',
  instagram: 'instagram',
};

const CHANNEL_NAMES: Record<ChannelType, string> = {
  telegram: 'Telegram update',
  whatsapp: 'WhatsApp delivery',
  messenger: 'Messenger delivery',
  instagram: 'Instagram delivery',
};

/**
 * A delivery Parley cannot read: the webhook answers 400. `wrong_object` is a Meta delivery for
 * another product (e.g. a Page event sent to the WhatsApp URL). The message names the offending
 * field, never its value: deliveries carry users' messages.
 */
export class InboundPayloadError extends BadRequestError {
  readonly channel: ChannelType;
  readonly path: string;
  readonly reason: 'malformed' | 'wrong_object';
  constructor(
    channel: ChannelType,
    path: string,
    problem: string,
    reason: 'malformed' | 'wrong_object' = 'malformed',
  ) {
    super(`Not a valid ${CHANNEL_NAMES[channel]}: ${path} ${problem}`, [{ path, message: problem }]);
    this.channel = channel;
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The reply queue's `MessageDeduplicationId` for a message: a digest of bot, channel and the
 * platform's id. The platform's id alone is not enough: Telegram `update_id`s are small per-bot
 * counters that collide across bots, and Instagram `mid`s can exceed SQS's 128-character limit.
 */
export function replyDeduplicationId(
  botId: string,
  message: Pick<InboundMessage, 'channel' | 'messageId'>,
): string {
  return createHash('sha256').update(`${botId}\n${message.channel}\n${message.messageId}`).digest('hex');
}

// --- reading untrusted JSON ---------------------------------------------------------------------

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function record(channel: ChannelType, value: unknown, path: string): Json {
  if (!isRecord(value)) throw new InboundPayloadError(channel, path, 'must be an object');
  return value;
}

function list(channel: ChannelType, value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new InboundPayloadError(channel, path, 'must be an array');
  return value;
}

/** An optional array: absent (or null) reads as empty. */
function optionalList(channel: ChannelType, value: unknown, path: string): unknown[] {
  return value === undefined || value === null ? [] : list(channel, value, path);
}

const MAX_ID_LENGTH = 1024;

/** A platform id: a non-empty string, or a non-negative integer (as Telegram and some Meta fields send). */
function id(channel: ChannelType, value: unknown, path: string): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !/\s/.test(value)) {
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw new InboundPayloadError(channel, path, 'must be an id');
}

/** Telegram ids are integers; chat ids of groups and channels are negative. */
function integerId(channel: ChannelType, value: unknown, path: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new InboundPayloadError(channel, path, 'must be an integer');
}

/** An optional string field; a blank one reads as absent (there is nothing to answer). */
function optionalText(channel: ChannelType, value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InboundPayloadError(channel, path, 'must be a string');
  return value.trim() === '' ? undefined : value;
}

/** A string when the field is a non-blank string, otherwise nothing: for cosmetic fields. */
const cosmetic = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

const LATEST_MS = Date.UTC(9999, 11, 31);

/**
 * Epoch seconds (Telegram, WhatsApp) or milliseconds (Messenger, Instagram) as a number or a
 * numeric string. `auto` takes values below 1e11 as seconds: Meta documents milliseconds for
 * messaging events but shows seconds-as-strings in some samples, and 1e11 ms is 1973.
 */
function epoch(channel: ChannelType, value: unknown, path: string, unit: 's' | 'auto'): string {
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,16}$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isFinite(number) || number < 0)
    throw new InboundPayloadError(channel, path, 'must be a timestamp');
  const ms = unit === 's' || number < 1e11 ? number * 1000 : number;
  if (ms > LATEST_MS) throw new InboundPayloadError(channel, path, 'must be a timestamp');
  return new Date(Math.floor(ms)).toISOString();
}

/** Keeps at most MAX_INBOUND_TEXT UTF-16 units, without splitting a surrogate pair. */
function capText(text: string): string {
  if (text.length <= MAX_INBOUND_TEXT) return text;
  const cut = text.slice(0, MAX_INBOUND_TEXT);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

const withName = (userName: string | undefined): { userName?: string } => (userName ? { userName } : {});

// --- Telegram -----------------------------------------------------------------------------------

/** Message fields that carry content Parley cannot read, in the order they are checked. */
const TELEGRAM_MEDIA: ReadonlyArray<readonly [string, UnsupportedType]> = [
  // An animation also carries `document` (for old clients): check it first.
  ['animation', 'animation'],
  ['photo', 'image'],
  ['voice', 'voice'],
  ['audio', 'audio'],
  ['video', 'video'],
  ['video_note', 'video'],
  ['sticker', 'sticker'],
  ['document', 'document'],
  ['venue', 'location'],
  ['location', 'location'],
  ['contact', 'contact'],
  ['poll', 'poll'],
  ['story', 'story'],
  ['dice', 'other'],
  ['game', 'other'],
  ['invoice', 'other'],
  ['paid_media', 'other'],
];

/**
 * One Telegram `Update` (Telegram posts one per request). `message` and `edited_message` are
 * answered; channel posts, callback queries, membership changes, business messages and the rest
 * produce nothing, as do service messages (members joining, pinned messages…).
 */
export function parseTelegramUpdate(json: unknown): InboundMessage[] {
  const channel = 'telegram';
  const update = record(channel, json, 'update');
  const updateId = update.update_id;
  if (typeof updateId !== 'number' || !Number.isSafeInteger(updateId) || updateId < 0) {
    throw new InboundPayloadError(channel, 'update_id', 'must be a non-negative integer');
  }
  const field =
    update.message !== undefined
      ? 'message'
      : update.edited_message !== undefined
        ? 'edited_message'
        : undefined;
  if (!field) return [];
  const message = record(channel, update[field], field);
  const chat = record(channel, message.chat, `${field}.chat`);
  const userId = integerId(channel, chat.id, `${field}.chat.id`);
  const timestamp =
    field === 'edited_message' && message.edit_date !== undefined
      ? epoch(channel, message.edit_date, `${field}.edit_date`, 's')
      : epoch(channel, message.date, `${field}.date`, 's');
  const from = isRecord(message.from) ? message.from : undefined;
  const fullName = [cosmetic(from?.first_name), cosmetic(from?.last_name)].filter(Boolean).join(' ');
  const base = {
    channel,
    messageId: String(updateId),
    userId,
    timestamp,
    ...withName(fullName || cosmetic(from?.username)),
  } as const;

  const text = optionalText(channel, message.text, `${field}.text`);
  if (text) return [{ ...base, kind: 'text', text: capText(text) }];
  const media = TELEGRAM_MEDIA.find(([key]) => message[key] !== undefined && message[key] !== null);
  return media ? [{ ...base, kind: 'unsupported', unsupportedType: media[1] }] : [];
}

// --- Meta ---------------------------------------------------------------------------------------

/**
 * One Meta webhook delivery for `channel`: `object` must be that product's, and every `entry`
 * (and every change or messaging event in it) is read, in order.
 */
export function parseMetaDelivery(channel: MetaChannel, json: unknown): InboundMessage[] {
  const delivery = record(channel, json, 'body');
  if (delivery.object !== META_OBJECTS[channel]) {
    throw new InboundPayloadError(channel, 'object', `must be "${META_OBJECTS[channel]}"`, 'wrong_object');
  }
  const messages: InboundMessage[] = [];
  for (const [i, item] of list(channel, delivery.entry, 'entry').entries()) {
    const entry = record(channel, item, `entry[${i}]`);
    if (channel === 'whatsapp') messages.push(...whatsappEntry(entry, `entry[${i}]`));
    else messages.push(...messagingEntry(channel, entry, `entry[${i}]`));
  }
  return messages;
}

// WhatsApp Cloud API: entry[].changes[] with field "messages"; value.messages[] are the users'
// messages and value.statuses[] the delivery reports of the business's own messages (ignored).

// Maps, not object literals: a type named "constructor" must not find Object's.
const WHATSAPP_MEDIA = new Map<string, UnsupportedType>([
  ['image', 'image'],
  ['video', 'video'],
  ['document', 'document'],
  ['sticker', 'sticker'],
  ['location', 'location'],
  ['contacts', 'contact'],
]);

/** Not something a user said to the bot: reactions, number changes, "start chat" requests. */
const WHATSAPP_IGNORED = new Set(['reaction', 'system', 'request_welcome', 'ephemeral']);

function whatsappEntry(entry: Json, path: string): InboundMessage[] {
  const channel = 'whatsapp';
  const messages: InboundMessage[] = [];
  for (const [j, item] of list(channel, entry.changes, `${path}.changes`).entries()) {
    const changePath = `${path}.changes[${j}]`;
    const change = record(channel, item, changePath);
    // Account, template, quality and echo updates are other fields.
    if (change.field !== 'messages') continue;
    const value = record(channel, change.value, `${changePath}.value`);
    const items = optionalList(channel, value.messages, `${changePath}.value.messages`);
    if (items.length === 0) continue;
    const metadata = record(channel, value.metadata, `${changePath}.value.metadata`);
    const recipientId = id(channel, metadata.phone_number_id, `${changePath}.value.metadata.phone_number_id`);
    const names = new Map<string, string>();
    for (const contact of Array.isArray(value.contacts) ? value.contacts : []) {
      const name =
        isRecord(contact) && isRecord(contact.profile) ? cosmetic(contact.profile.name) : undefined;
      if (name && isRecord(contact) && typeof contact.wa_id === 'string') names.set(contact.wa_id, name);
    }
    for (const [k, raw] of items.entries()) {
      const message = whatsappMessage(raw, `${changePath}.value.messages[${k}]`, recipientId, names);
      if (message) messages.push(message);
    }
  }
  return messages;
}

function whatsappMessage(
  raw: unknown,
  path: string,
  recipientId: string,
  names: Map<string, string>,
): InboundMessage | undefined {
  const channel = 'whatsapp';
  const message = record(channel, raw, path);
  const type = message.type;
  if (typeof type !== 'string') throw new InboundPayloadError(channel, `${path}.type`, 'must be a string');
  if (WHATSAPP_IGNORED.has(type)) return undefined;
  // Replies go to the sender's own chat: answering a group message there would leak the group.
  if (message.group_id !== undefined) return undefined;
  const userId = id(channel, message.from, `${path}.from`);
  const base = {
    channel,
    messageId: id(channel, message.id, `${path}.id`),
    userId,
    recipientId,
    timestamp: epoch(channel, message.timestamp, `${path}.timestamp`, 's'),
    ...withName(names.get(userId)),
  } as const;
  const text = (value: string | undefined): InboundMessage | undefined =>
    value ? { ...base, kind: 'text', text: capText(value) } : undefined;
  const unsupported = (unsupportedType: UnsupportedType): InboundMessage => ({
    ...base,
    kind: 'unsupported',
    unsupportedType,
  });

  switch (type) {
    case 'text': {
      const body = record(channel, message.text, `${path}.text`);
      return text(optionalText(channel, body.body, `${path}.text.body`));
    }
    case 'interactive': {
      // Taps on reply buttons and list rows come back as their titles: what the user chose.
      const interactive = record(channel, message.interactive, `${path}.interactive`);
      const reply = interactive.type === 'button_reply' || interactive.type === 'list_reply';
      if (!reply) return unsupported('other');
      const field = interactive.type as string;
      const chosen = record(channel, interactive[field], `${path}.interactive.${field}`);
      return text(optionalText(channel, chosen.title, `${path}.interactive.${field}.title`));
    }
    case 'button': {
      // A template's quick-reply button: its label, or the payload when there is none.
      const button = record(channel, message.button, `${path}.button`);
      return text(
        optionalText(channel, button.text, `${path}.button.text`) ??
          optionalText(channel, button.payload, `${path}.button.payload`),
      );
    }
    case 'audio': {
      // Voice notes are audio messages flagged `voice: true`.
      const audio = isRecord(message.audio) ? message.audio : {};
      return unsupported(audio.voice === true ? 'voice' : 'audio');
    }
    default:
      // Orders, flows, `unsupported` and types added later: the user sent something unreadable.
      return unsupported(WHATSAPP_MEDIA.get(type) ?? 'other');
  }
}

// Messenger and Instagram (Messenger API for Instagram): entry[].messaging[] events, each with one
// of message, postback, delivery, read, reaction, message_edit, referral, optin…

const ATTACHMENTS = new Map<string, UnsupportedType>([
  ['image', 'image'],
  ['audio', 'audio'],
  ['video', 'video'],
  ['file', 'document'],
  ['sticker', 'sticker'],
  ['location', 'location'],
  ['fallback', 'share'],
  ['share', 'share'],
  ['reel', 'share'],
  ['ig_reel', 'share'],
  ['post', 'share'],
  ['ig_post', 'share'],
  ['story_mention', 'story'],
]);

function messagingEntry(channel: 'messenger' | 'instagram', entry: Json, path: string): InboundMessage[] {
  const messages: InboundMessage[] = [];
  // `standby` (another app owns the thread) and `changes` (feed, comments) are not answered.
  for (const [k, item] of optionalList(channel, entry.messaging, `${path}.messaging`).entries()) {
    const message = messagingEvent(channel, item, `${path}.messaging[${k}]`);
    if (message) messages.push(message);
  }
  return messages;
}

function messagingEvent(
  channel: 'messenger' | 'instagram',
  raw: unknown,
  path: string,
): InboundMessage | undefined {
  const event = record(channel, raw, path);
  const message = event.message !== undefined ? record(channel, event.message, `${path}.message`) : undefined;
  const postback =
    event.postback !== undefined ? record(channel, event.postback, `${path}.postback`) : undefined;
  if (!message && !postback) return undefined;
  // Echoes are the page's own messages (the bot's replies among them); deletions need no answer.
  if (message && (message.is_echo === true || message.is_deleted === true)) return undefined;

  const sender = record(channel, event.sender, `${path}.sender`);
  // Chat-plugin and checkbox users are known by a `user_ref`, not an id Parley can answer.
  if (sender.id === undefined && sender.user_ref !== undefined) return undefined;
  const userId = id(channel, sender.id, `${path}.sender.id`);
  const recipient = record(channel, event.recipient, `${path}.recipient`);
  const recipientId = id(channel, recipient.id, `${path}.recipient.id`);
  const timestamp = epoch(channel, event.timestamp, `${path}.timestamp`, 'auto');
  const common = { channel, userId, recipientId, timestamp } as const;

  if (postback) {
    // A tapped button, "Get Started" or menu item: its title is what the user chose.
    const text =
      optionalText(channel, postback.title, `${path}.postback.title`) ??
      optionalText(channel, postback.payload, `${path}.postback.payload`);
    if (!text) return undefined;
    // Older postbacks carry no mid: sender and time identify a tap well enough for deduplication.
    const messageId =
      postback.mid === undefined
        ? `postback:${userId}:${String(event.timestamp)}`
        : id(channel, postback.mid, `${path}.postback.mid`);
    return { ...common, messageId, kind: 'text', text: capText(text) };
  }

  const body = message as Json;
  const messageId = id(channel, body.mid, `${path}.message.mid`);
  if (body.is_unsupported === true)
    return { ...common, messageId, kind: 'unsupported', unsupportedType: 'other' };
  const text = optionalText(channel, body.text, `${path}.message.text`);
  if (text) return { ...common, messageId, kind: 'text', text: capText(text) };
  const attachments = optionalList(channel, body.attachments, `${path}.message.attachments`);
  if (attachments.length === 0) return undefined;
  const first = record(channel, attachments[0], `${path}.message.attachments[0]`);
  const payload = isRecord(first.payload) ? first.payload : {};
  // Messenger sends stickers (the thumbs-up too) as images with a sticker_id.
  const type =
    payload.sticker_id !== undefined ? 'sticker' : typeof first.type === 'string' ? first.type : '';
  return { ...common, messageId, kind: 'unsupported', unsupportedType: ATTACHMENTS.get(type) ?? 'other' };
}
