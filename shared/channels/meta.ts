// What Meta's products share (WhatsApp, Messenger, Instagram): their credentials carry an app
// secret and a verify token; deliveries are signed with `X-Hub-Signature-256` (HMAC-SHA256 of the
// raw bytes with the app secret) and carry the product's `object`; the webhook answers Meta's GET
// handshake; replies go through the Graph API. `metaKind` makes a product's ChannelKind from
// what differs between them.

import * as z from 'zod';
import {
  createGraphClient,
  DEFAULT_GRAPH_API_VERSION,
  DEFAULT_META_GRAPH_BASE_URL,
  type GraphProduct,
} from '../adapters/channels/graph.ts';
import type { ChannelClient } from '../ports/channel-client.ts';
import {
  capText,
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
} from './inbound.ts';
import type { AnyCredentials, ChannelKind, CredentialField } from './kind.ts';
import { formatWith, type ReplyFormat } from './markdown.ts';
import { hmacSha256Matches, secretHeaderMatches } from './signatures.ts';

/** What every Meta product's credentials hold besides its own ids and token. */
interface MetaSecrets {
  appSecret: string;
  verifyToken: string;
}

/** The credential fields every Meta product asks for after its own: the app's secret and verify token. */
export const META_APP_FIELDS: readonly CredentialField[] = [
  {
    name: 'appSecret',
    label: 'App secret',
    secret: true,
    hint: 'From your Meta app’s basic settings; proves that messages come from Meta.',
  },
  {
    name: 'verifyToken',
    label: 'Verify token',
    secret: true,
    hint: 'Any secret you choose; enter the same one in your Meta app’s webhook settings.',
  },
];

/** A credential string: a token or secret, trimmed. */
export const metaSecret = (max = 1024) => z.string().trim().min(1).max(max);
/** Numeric ids Meta gives phone numbers, pages and Instagram accounts. */
export const metaId = z.string().regex(/^\d{1,30}$/, 'must be the numeric id Meta shows');

/** Meta's standard messaging window: a reply must follow the user's last message within 24 hours. */
export const META_REPLY_WINDOW_SECONDS = 24 * 3600;

/** `sha256=` (lowercase, as Meta sends it) and the 32-byte HMAC in hex. */
const META_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks Meta's `X-Hub-Signature-256` header: HMAC-SHA256 of the raw body with the app secret.
 * `rawBody` must be the bytes as received: Meta escapes non-ASCII characters as `\uXXXX`, so
 * re-serialised JSON would not match.
 */
export function verifyMetaSignature(
  rawBody: Uint8Array,
  header: string | undefined,
  appSecret: string,
): boolean {
  if (typeof header !== 'string') return false;
  const hex = META_SIGNATURE.exec(header)?.[1];
  return hex !== undefined && hmacSha256Matches(rawBody, hex, appSecret);
}

/** Meta's challenge is a number; anything else is refused rather than echoed back. */
const CHALLENGE = /^[A-Za-z0-9._-]{1,256}$/;

export type MetaHandshakeResult = { ok: true; challenge: string } | { ok: false };

/**
 * Meta's subscription handshake: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.
 * When the token matches the channel's verify token, the webhook answers 200 with the challenge as
 * plain text; otherwise 403.
 */
export function metaHandshake(
  query: Readonly<Record<string, string | undefined>>,
  verifyToken: string,
): MetaHandshakeResult {
  const challenge = query['hub.challenge'];
  if (query['hub.mode'] !== 'subscribe') return { ok: false };
  if (!secretHeaderMatches(query['hub.verify_token'], verifyToken)) return { ok: false };
  if (typeof challenge !== 'string' || !CHALLENGE.test(challenge)) return { ok: false };
  return { ok: true, challenge };
}

/**
 * One Meta webhook delivery: `object` must be the product's, and every `entry` (and every change
 * or messaging event in it) is read, in order, by the product's `entry`.
 */
export function parseMetaDelivery(
  product: { source: PayloadSource; object: string; entry: EntryParser },
  json: unknown,
): InboundMessage[] {
  const { source, object } = product;
  const delivery = record(source, json, 'body');
  if (delivery.object !== object) {
    throw new InboundPayloadError(source, 'object', `must be "${object}"`, 'wrong_object');
  }
  const messages: InboundMessage[] = [];
  for (const [i, item] of list(source, delivery.entry, 'entry').entries()) {
    messages.push(...product.entry(source, record(source, item, `entry[${i}]`), `entry[${i}]`));
  }
  return messages;
}

type EntryParser = (source: PayloadSource, entry: Json, path: string) => InboundMessage[];

/** What differs between Meta's products: the console's entry, and how deliveries and replies look. */
export interface MetaProduct<T extends string, C extends MetaSecrets & AnyCredentials>
  extends Pick<ChannelKind<T, C>, 'type' | 'title' | 'fields' | 'setup' | 'credentials' | 'accountIdOf'> {
  /** The `object` its deliveries carry. */
  readonly object: string;
  readonly replies: ReplyFormat;
  /** Where and what to post for one part of a reply. */
  readonly message: GraphProduct<C>['message'];
  /** The messages of one entry of a delivery. */
  readonly entry: EntryParser;
}

/** A Meta product as a channel kind; `object` rides along for the tests. */
export function metaKind<T extends string, C extends MetaSecrets & AnyCredentials>(
  product: MetaProduct<T, C>,
): ChannelKind<T, C> & { readonly object: string } {
  const source: PayloadSource = { channel: product.type, what: `${product.title} delivery` };
  const format = (markdown: string) => formatWith(product.replies, markdown);
  const graph: GraphProduct<C> = {
    channel: product.type,
    name: product.title,
    format,
    message: product.message,
  };
  return {
    type: product.type,
    title: product.title,
    fields: product.fields,
    setup: product.setup,
    object: product.object,
    credentials: product.credentials,
    accountIdOf: product.accountIdOf,
    replyLimit: product.replies.limit,
    replyWindowSeconds: META_REPLY_WINDOW_SECONDS,
    format,
    /** graph.facebook.com, or `META_GRAPH_BASE_URL` (tests), with `GRAPH_API_VERSION` (default v23.0). */
    client: (env, options = {}): ChannelClient<C> =>
      createGraphClient(graph, {
        ...options,
        baseUrl: options.baseUrl ?? (env.META_GRAPH_BASE_URL || DEFAULT_META_GRAPH_BASE_URL),
        graphVersion: options.graphVersion ?? (env.GRAPH_API_VERSION || DEFAULT_GRAPH_API_VERSION),
      }),
    verify: (delivery, secrets) =>
      verifyMetaSignature(
        delivery.rawBody,
        delivery.headers['x-hub-signature-256'],
        secrets.credentials.appSecret ?? '',
      ),
    handshake(query, secrets) {
      const result = metaHandshake(query, secrets.credentials.verifyToken ?? '');
      return result.ok ? result.challenge : undefined;
    },
    parse: (json) => parseMetaDelivery({ source, object: product.object, entry: product.entry }, json),
  };
}

// The Messenger Platform's deliveries (Messenger, and Instagram through the Messenger API for
// Instagram): entry[].messaging[] events, each with one of message, postback, delivery, read,
// reaction, message_edit, referral, optin…

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

/** The events of one entry of a Messenger Platform delivery (a product's `entry`). */
export function messagingEntry(source: PayloadSource, entry: Json, path: string): InboundMessage[] {
  const messages: InboundMessage[] = [];
  // `standby` (another app owns the thread) and `changes` (feed, comments) are not answered.
  for (const [k, item] of optionalList(source, entry.messaging, `${path}.messaging`).entries()) {
    const message = messagingEvent(source, item, `${path}.messaging[${k}]`);
    if (message) messages.push(message);
  }
  return messages;
}

function messagingEvent(source: PayloadSource, raw: unknown, path: string): InboundMessage | undefined {
  const event = record(source, raw, path);
  const message = event.message !== undefined ? record(source, event.message, `${path}.message`) : undefined;
  const postback =
    event.postback !== undefined ? record(source, event.postback, `${path}.postback`) : undefined;
  if (!message && !postback) return undefined;
  // Echoes are the page's own messages (the bot's replies among them); deletions need no answer.
  if (message && (message.is_echo === true || message.is_deleted === true)) return undefined;

  const sender = record(source, event.sender, `${path}.sender`);
  // Chat-plugin and checkbox users are known by a `user_ref`, not an id Parley can answer.
  if (sender.id === undefined && sender.user_ref !== undefined) return undefined;
  const userId = id(source, sender.id, `${path}.sender.id`);
  const recipient = record(source, event.recipient, `${path}.recipient`);
  const recipientId = id(source, recipient.id, `${path}.recipient.id`);
  const timestamp = epoch(source, event.timestamp, `${path}.timestamp`, 'auto');
  const common = { channel: source.channel, userId, recipientId, timestamp } as const;

  if (postback) {
    // A tapped button, "Get Started" or menu item: its title is what the user chose.
    const text =
      optionalText(source, postback.title, `${path}.postback.title`) ??
      optionalText(source, postback.payload, `${path}.postback.payload`);
    if (!text) return undefined;
    // Older postbacks carry no mid: sender and time identify a tap well enough for deduplication.
    const messageId =
      postback.mid === undefined
        ? `postback:${userId}:${String(event.timestamp)}`
        : id(source, postback.mid, `${path}.postback.mid`);
    return { ...common, messageId, kind: 'text', text: capText(text) };
  }

  const body = message as Json;
  const messageId = id(source, body.mid, `${path}.message.mid`);
  if (body.is_unsupported === true)
    return { ...common, messageId, kind: 'unsupported', unsupportedType: 'other' };
  const text = optionalText(source, body.text, `${path}.message.text`);
  if (text) return { ...common, messageId, kind: 'text', text: capText(text) };
  const attachments = optionalList(source, body.attachments, `${path}.message.attachments`);
  if (attachments.length === 0) return undefined;
  const first = record(source, attachments[0], `${path}.message.attachments[0]`);
  const payload = isRecord(first.payload) ? first.payload : {};
  // Messenger sends stickers (the thumbs-up too) as images with a sticker_id.
  const type =
    payload.sticker_id !== undefined ? 'sticker' : typeof first.type === 'string' ? first.type : '';
  return { ...common, messageId, kind: 'unsupported', unsupportedType: ATTACHMENTS.get(type) ?? 'other' };
}
