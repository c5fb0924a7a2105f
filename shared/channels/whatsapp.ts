// WhatsApp, through the WhatsApp Cloud API: a business phone number's id and access token, and the
// Meta app's secret and verify token (meta.ts). Replies in WhatsApp's own formatting (`*bold*`,
// `_italic_`, `~strike~`), split at 4096 characters, sent from the phone number.

import * as z from 'zod';
import {
  capText,
  cosmetic,
  epoch,
  type InboundMessage,
  InboundPayloadError,
  id,
  isRecord,
  type Json,
  list,
  optionalList,
  optionalText,
  type PayloadSource,
  record,
  type UnsupportedType,
  withName,
} from './inbound.ts';
import { linkAsText, type Markup, PLAIN, renderMarkdown } from './markdown.ts';
import { META_APP_FIELDS, metaId, metaKind, metaSecret } from './meta.ts';

const CredentialsSchema = z.strictObject({
  phoneNumberId: metaId,
  accessToken: metaSecret(),
  appSecret: metaSecret(256),
  verifyToken: metaSecret(256),
});

const EMPHASIS_MARKS = { bold: '*', italic: '_', strike: '~' } as const;

/** WhatsApp: `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ```` ```block``` ````; links as `text (url)`. */
const WHATSAPP_MARKUP: Markup = {
  ...PLAIN,
  code: (text) => `\`${text}\``,
  pre: (text) => `\`\`\`${text}\`\`\``,
  emphasis: (kind, inner) => `${EMPHASIS_MARKS[kind]}${inner}${EMPHASIS_MARKS[kind]}`,
  link(url, label, plainLabel) {
    return linkAsText(this, url, label, plainLabel);
  },
  heading: (inline) => `*${inline}*`,
};

export const toWhatsAppText = (markdown: string) => renderMarkdown(markdown, WHATSAPP_MARKUP);

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

function whatsappEntry(source: PayloadSource, entry: Json, path: string): InboundMessage[] {
  const messages: InboundMessage[] = [];
  for (const [j, item] of list(source, entry.changes, `${path}.changes`).entries()) {
    const changePath = `${path}.changes[${j}]`;
    const change = record(source, item, changePath);
    // Account, template, quality and echo updates are other fields.
    if (change.field !== 'messages') continue;
    const value = record(source, change.value, `${changePath}.value`);
    const items = optionalList(source, value.messages, `${changePath}.value.messages`);
    if (items.length === 0) continue;
    const metadata = record(source, value.metadata, `${changePath}.value.metadata`);
    const recipientId = id(source, metadata.phone_number_id, `${changePath}.value.metadata.phone_number_id`);
    const names = new Map<string, string>();
    for (const contact of Array.isArray(value.contacts) ? value.contacts : []) {
      const name =
        isRecord(contact) && isRecord(contact.profile) ? cosmetic(contact.profile.name) : undefined;
      if (name && isRecord(contact) && typeof contact.wa_id === 'string') names.set(contact.wa_id, name);
    }
    for (const [k, raw] of items.entries()) {
      const message = whatsappMessage(source, raw, `${changePath}.value.messages[${k}]`, recipientId, names);
      if (message) messages.push(message);
    }
  }
  return messages;
}

function whatsappMessage(
  source: PayloadSource,
  raw: unknown,
  path: string,
  recipientId: string,
  names: Map<string, string>,
): InboundMessage | undefined {
  const message = record(source, raw, path);
  const type = message.type;
  if (typeof type !== 'string') throw new InboundPayloadError(source, `${path}.type`, 'must be a string');
  if (WHATSAPP_IGNORED.has(type)) return undefined;
  // Replies go to the sender's own chat: answering a group message there would leak the group.
  if (message.group_id !== undefined) return undefined;
  const userId = id(source, message.from, `${path}.from`);
  const base = {
    channel: source.channel,
    messageId: id(source, message.id, `${path}.id`),
    userId,
    recipientId,
    timestamp: epoch(source, message.timestamp, `${path}.timestamp`, 's'),
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
      const body = record(source, message.text, `${path}.text`);
      return text(optionalText(source, body.body, `${path}.text.body`));
    }
    case 'interactive': {
      // Taps on reply buttons and list rows come back as their titles: what the user chose.
      const interactive = record(source, message.interactive, `${path}.interactive`);
      const reply = interactive.type === 'button_reply' || interactive.type === 'list_reply';
      if (!reply) return unsupported('other');
      const field = interactive.type as string;
      const chosen = record(source, interactive[field], `${path}.interactive.${field}`);
      return text(optionalText(source, chosen.title, `${path}.interactive.${field}.title`));
    }
    case 'button': {
      // A template's quick-reply button: its label, or the payload when there is none.
      const button = record(source, message.button, `${path}.button`);
      return text(
        optionalText(source, button.text, `${path}.button.text`) ??
          optionalText(source, button.payload, `${path}.button.payload`),
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

export const whatsapp = metaKind({
  type: 'whatsapp',
  title: 'WhatsApp',
  fields: [
    {
      name: 'phoneNumberId',
      label: 'Phone number ID',
      secret: false,
      hint: 'The numeric ID Meta shows for the number.',
    },
    { name: 'accessToken', label: 'Access token', secret: true },
    ...META_APP_FIELDS,
  ],
  setup:
    'After connecting, enter the webhook URL and verify token in your Meta app and subscribe to messages.',
  object: 'whatsapp_business_account',
  credentials: CredentialsSchema,
  accountIdOf: (credentials) => credentials.phoneNumberId,
  replies: { limit: { max: 4096, unit: 'chars' }, markup: WHATSAPP_MARKUP },
  message: (credentials, to, text) => ({
    node: credentials.phoneNumberId,
    token: credentials.accessToken,
    body: {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to,
      type: 'text',
      text: { body: text, preview_url: false },
    },
  }),
  entry: whatsappEntry,
});
