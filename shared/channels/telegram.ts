// Telegram, through the Bot API: a bot token from @BotFather is the credential; connecting checks it
// (`getMe`) and registers the webhook with a fresh secret token, which Telegram echoes in
// `X-Telegram-Bot-Api-Secret-Token` on every delivery. One `Update` per delivery; replies in HTML
// parse mode, up to 4096 characters as Telegram counts them (after entity parsing).

import * as z from 'zod';
import { createTelegramClient, DEFAULT_TELEGRAM_API_BASE_URL } from '../adapters/channels/telegram.ts';
import { BadRequestError, type FieldIssue, UpstreamUnavailableError } from '../domain/errors.ts';
import { ChannelSendError } from '../ports/channel-client.ts';
import {
  capText,
  cosmetic,
  epoch,
  type InboundMessage,
  InboundPayloadError,
  integerId,
  isRecord,
  optionalText,
  type PayloadSource,
  record,
  type UnsupportedType,
  withName,
} from './inbound.ts';
import type { ChannelKind } from './kind.ts';
import { formatWith, linkAsText, type Markup, type ReplyFormat, renderMarkdown } from './markdown.ts';
import { newSecretToken, secretHeaderMatches } from './signatures.ts';

type TelegramClient = ReturnType<typeof createTelegramClient>;
type TelegramCredentials = z.infer<typeof CredentialsSchema>;

const CredentialsSchema = z.strictObject({
  /** From @BotFather: `<bot id>:<secret>`. */
  botToken: z
    .string()
    .regex(/^\d{3,20}:[A-Za-z0-9_-]{20,100}$/, 'must be a bot token from @BotFather (123456:ABC…)'),
});

// --- replies ------------------------------------------------------------------------------------

export const escapeHtml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const escapeAttribute = (text: string) => escapeHtml(text).replaceAll('"', '&quot;');

/** Link schemes Telegram makes clickable; anything else is shown as text. */
const LINKABLE = /^(?:https?:\/\/|tg:\/\/|mailto:)/i;

const EMPHASIS_TAGS = { bold: 'b', italic: 'i', strike: 's' } as const;

/** Telegram HTML parse mode: `<b>`, `<i>`, `<s>`, `<code>`, `<pre>`, `<a href>`; `<>&` escaped. */
const HTML: Markup = {
  text: escapeHtml,
  code: (text) => `<code>${escapeHtml(text)}</code>`,
  pre: (text, lang) =>
    lang
      ? `<pre><code class="language-${escapeAttribute(lang)}">${escapeHtml(text)}</code></pre>`
      : `<pre>${escapeHtml(text)}</pre>`,
  emphasis: (kind, inner) => `<${EMPHASIS_TAGS[kind]}>${inner}</${EMPHASIS_TAGS[kind]}>`,
  link(url, label, plainLabel) {
    if (!LINKABLE.test(url)) return linkAsText(this, url, label, plainLabel);
    return `<a href="${escapeAttribute(url)}">${plainLabel ? label : escapeHtml(url)}</a>`;
  },
  heading: (inline) => `<b>${inline}</b>`,
};

export const toTelegramHtml = (markdown: string) => renderMarkdown(markdown, HTML);

/** What a Telegram user sees of an HTML message (tags dropped, entities decoded): what its limit counts. */
export function telegramVisibleText(html: string): string {
  return html.replace(/<[^>]*>/g, '').replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi, (_, name: string) => {
    const lower = name.toLowerCase();
    if (lower === 'lt') return '<';
    if (lower === 'gt') return '>';
    if (lower === 'amp') return '&';
    if (lower === 'quot') return '"';
    const code = lower.startsWith('#x') ? Number.parseInt(lower.slice(2), 16) : Number(lower.slice(1));
    return code <= 0x10ffff ? String.fromCodePoint(code) : '';
  });
}

const REPLIES: ReplyFormat = {
  limit: { max: 4096, unit: 'chars' },
  markup: HTML,
  counted: telegramVisibleText,
};

// --- deliveries ---------------------------------------------------------------------------------

const UPDATE: PayloadSource = { channel: 'telegram', what: 'Telegram update' };

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
  const update = record(UPDATE, json, 'update');
  const updateId = update.update_id;
  if (typeof updateId !== 'number' || !Number.isSafeInteger(updateId) || updateId < 0) {
    throw new InboundPayloadError(UPDATE, 'update_id', 'must be a non-negative integer');
  }
  const field =
    update.message !== undefined
      ? 'message'
      : update.edited_message !== undefined
        ? 'edited_message'
        : undefined;
  if (!field) return [];
  const message = record(UPDATE, update[field], field);
  const chat = record(UPDATE, message.chat, `${field}.chat`);
  const userId = integerId(UPDATE, chat.id, `${field}.chat.id`);
  const timestamp =
    field === 'edited_message' && message.edit_date !== undefined
      ? epoch(UPDATE, message.edit_date, `${field}.edit_date`, 's')
      : epoch(UPDATE, message.date, `${field}.date`, 's');
  const from = isRecord(message.from) ? message.from : undefined;
  const fullName = [cosmetic(from?.first_name), cosmetic(from?.last_name)].filter(Boolean).join(' ');
  const base = {
    channel: 'telegram',
    messageId: String(updateId),
    userId,
    timestamp,
    ...withName(fullName || cosmetic(from?.username)),
  } as const;

  const text = optionalText(UPDATE, message.text, `${field}.text`);
  if (text) return [{ ...base, kind: 'text', text: capText(text) }];
  const media = TELEGRAM_MEDIA.find(([key]) => message[key] !== undefined && message[key] !== null);
  return media ? [{ ...base, kind: 'unsupported', unsupportedType: media[1] }] : [];
}

// --- connecting ---------------------------------------------------------------------------------

/** A Bot API call while connecting: its refusal is the admin's to fix (400), its absence a 502. */
async function callTelegram<T>(call: () => Promise<T>, what: string, refused: FieldIssue): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof ChannelSendError && error.failure === 'rejected') {
      throw new BadRequestError(`Telegram refused to ${what}`, [refused]);
    }
    throw new UpstreamUnavailableError(`Telegram could not be reached to ${what}; try again`, {
      cause: error,
    });
  }
}

/** Checks the token with `getMe`, then registers the webhook with a fresh secret token. */
async function connect(client: TelegramClient, botToken: string, webhookUrl: string) {
  await callTelegram(() => client.verify(botToken), 'check the bot token', {
    path: 'botToken',
    message: 'Telegram does not accept this bot token',
  });
  const webhookSecret = newSecretToken();
  await callTelegram(() => client.setWebhook(botToken, webhookUrl, webhookSecret), 'set the webhook', {
    path: '',
    message: `Telegram refused the webhook URL ${webhookUrl} (it must be public HTTPS)`,
  });
  return { webhookSecret };
}

export const telegram: ChannelKind<'telegram', TelegramCredentials, TelegramClient> = {
  type: 'telegram',
  title: 'Telegram',
  fields: [
    { name: 'botToken', label: 'Bot token', secret: true, hint: 'From @BotFather, like 123456:ABC-DEF…' },
  ],
  setup: 'Parley checks the token and registers the webhook with Telegram when you connect.',
  credentials: CredentialsSchema,
  accountIdOf: (credentials) => credentials.botToken.split(':')[0] ?? '',
  replyLimit: REPLIES.limit,
  format: (markdown) => formatWith(REPLIES, markdown),
  /** api.telegram.org, or `TELEGRAM_API_BASE_URL` (tests). */
  client: (env, options = {}) =>
    createTelegramClient({
      ...options,
      baseUrl: options.baseUrl ?? (env.TELEGRAM_API_BASE_URL || DEFAULT_TELEGRAM_API_BASE_URL),
      format: telegram.format,
    }),
  connect: ({ client, credentials, webhookUrl }) => connect(client, credentials.botToken, webhookUrl),
  // Deleting the webhook also drops the updates still pending.
  disconnect: ({ client, secrets }) => client.deleteWebhook(secrets.credentials.botToken),
  verify: (delivery, secrets) =>
    secretHeaderMatches(delivery.headers['x-telegram-bot-api-secret-token'], secrets.webhookSecret ?? ''),
  parse: parseTelegramUpdate,
};
