import { createHash } from 'node:crypto';
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
  channel: string;
  /** The platform's id of the message, for the reply queue's deduplication. */
  messageId: string;
  /** Whom to answer, as the platform names them to its send API. */
  userId: string;
  /** The account the message was sent to, where a platform's app serves several (Meta). */
  recipientId?: string;
  /** When the user sent (or edited) the message, ISO 8601. */
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

/** What a parser reads, for its errors: the channel, and what its deliveries are called. */
export interface PayloadSource {
  readonly channel: string;
  /** `Telegram update`, `WhatsApp delivery`… */
  readonly what: string;
}

/**
 * A delivery Parley cannot read: the webhook answers 400. `wrong_object` is a delivery for another
 * product of the same platform (e.g. a Meta Page event sent to the WhatsApp URL). The message
 * names the offending field, never its value: deliveries carry users' messages.
 */
export class InboundPayloadError extends BadRequestError {
  readonly channel: string;
  readonly path: string;
  readonly reason: 'malformed' | 'wrong_object';
  constructor(
    source: PayloadSource,
    path: string,
    problem: string,
    reason: 'malformed' | 'wrong_object' = 'malformed',
  ) {
    super(`Not a valid ${source.what}: ${path} ${problem}`, [{ path, message: problem }]);
    this.channel = source.channel;
    this.path = path;
    this.reason = reason;
  }
}

/**
 * The reply queue's `MessageDeduplicationId` for a message: a digest of bot, channel and the
 * platform's id. The platform's id alone is not enough: some are small per-bot counters that collide
 * across bots (Telegram's), others can exceed SQS's 128-character limit (Instagram's).
 */
export function replyDeduplicationId(
  botId: string,
  message: Pick<InboundMessage, 'channel' | 'messageId'>,
): string {
  return createHash('sha256').update(`${botId}\n${message.channel}\n${message.messageId}`).digest('hex');
}

// --- reading untrusted JSON, for the kinds' parsers --------------------------------------------

export type Json = Record<string, unknown>;

export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function record(source: PayloadSource, value: unknown, path: string): Json {
  if (!isRecord(value)) throw new InboundPayloadError(source, path, 'must be an object');
  return value;
}

export function list(source: PayloadSource, value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new InboundPayloadError(source, path, 'must be an array');
  return value;
}

/** An optional array: absent (or null) reads as empty. */
export function optionalList(source: PayloadSource, value: unknown, path: string): unknown[] {
  return value === undefined || value === null ? [] : list(source, value, path);
}

const MAX_ID_LENGTH = 1024;

/** A platform id: a non-empty string, or a non-negative integer (as some platforms send them). */
export function id(source: PayloadSource, value: unknown, path: string): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH && !/\s/.test(value)) {
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw new InboundPayloadError(source, path, 'must be an id');
}

/** An integer id, negative ones too (Telegram's chat ids of groups and channels). */
export function integerId(source: PayloadSource, value: unknown, path: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new InboundPayloadError(source, path, 'must be an integer');
}

/** An optional string field; a blank one reads as absent (there is nothing to answer). */
export function optionalText(source: PayloadSource, value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new InboundPayloadError(source, path, 'must be a string');
  return value.trim() === '' ? undefined : value;
}

/** A string when the field is a non-blank string, otherwise nothing: for cosmetic fields. */
export const cosmetic = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

const LATEST_MS = Date.UTC(9999, 11, 31);

/**
 * Epoch seconds (`s`) or milliseconds as a number or a numeric string. `auto` takes values below
 * 1e11 as seconds: Meta documents milliseconds for messaging events but shows seconds-as-strings
 * in some samples, and 1e11 ms is 1973.
 */
export function epoch(source: PayloadSource, value: unknown, path: string, unit: 's' | 'auto'): string {
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,16}$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isFinite(number) || number < 0)
    throw new InboundPayloadError(source, path, 'must be a timestamp');
  const ms = unit === 's' || number < 1e11 ? number * 1000 : number;
  if (ms > LATEST_MS) throw new InboundPayloadError(source, path, 'must be a timestamp');
  return new Date(Math.floor(ms)).toISOString();
}

/** Keeps at most MAX_INBOUND_TEXT UTF-16 units, without splitting a surrogate pair. */
export function capText(text: string): string {
  if (text.length <= MAX_INBOUND_TEXT) return text;
  const cut = text.slice(0, MAX_INBOUND_TEXT);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

export const withName = (userName: string | undefined): { userName?: string } =>
  userName ? { userName } : {};
