import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChannelType } from '../../shared/domain/channel.ts';

// Builds platform deliveries in the platforms' own formats, signed as they sign them, for unit and
// integration tests. Recorded-format samples live in test/fixtures/channels/<channel>.json, one
// delivery body per named case.

const FIXTURES = fileURLToPath(new URL('../fixtures/channels/', import.meta.url));
const cache = new Map<ChannelType, Record<string, unknown>>();

/** Every named delivery in test/fixtures/channels/<channel>.json. */
export function channelFixtures(channel: ChannelType): Record<string, unknown> {
  let fixtures = cache.get(channel);
  if (!fixtures) {
    fixtures = JSON.parse(readFileSync(`${FIXTURES}${channel}.json`, 'utf8')) as Record<string, unknown>;
    cache.set(channel, fixtures);
  }
  return fixtures;
}

/** One named delivery, as a fresh copy the caller may change. */
export function channelFixture(channel: ChannelType, name: string): unknown {
  const fixture = channelFixtures(channel)[name];
  if (fixture === undefined) throw new Error(`no ${channel} fixture named ${name}`);
  return structuredClone(fixture);
}

/** The `X-Hub-Signature-256` value Meta would send for these exact bytes. */
export function metaSignature(raw: string | Uint8Array, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(raw).digest('hex')}`;
}

/** A Meta POST: the body as sent and its signature header. */
export function signedMetaRequest(
  payload: unknown,
  appSecret: string,
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(payload);
  return {
    body,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(body, appSecret) },
  };
}

/** A Telegram POST: the body and the secret token header set with `setWebhook`. */
export function telegramRequest(
  payload: unknown,
  secretToken: string,
): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify(payload),
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secretToken },
  };
}

/**
 * The default send time of built messages: the minute the tests started, since Meta's messages are
 * answered only within 24 hours of being sent (the reply worker drops older ones).
 */
export const FIXTURE_EPOCH_SECONDS = Math.floor(Date.now() / 60_000) * 60;

export function whatsappText(options: {
  phoneNumberId: string;
  from: string;
  id: string;
  text: string;
  name?: string;
  timestamp?: number;
  wabaId?: string;
  displayPhoneNumber?: string;
}) {
  const { phoneNumberId, from, id, text } = options;
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: options.wabaId ?? '102290129340398',
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: {
                display_phone_number: options.displayPhoneNumber ?? '15550783881',
                phone_number_id: phoneNumberId,
              },
              contacts: [{ profile: { name: options.name ?? 'Ada Lovelace' }, wa_id: from }],
              messages: [
                {
                  from,
                  id,
                  timestamp: String(options.timestamp ?? FIXTURE_EPOCH_SECONDS),
                  text: { body: text },
                  type: 'text',
                },
              ],
            },
            field: 'messages',
          },
        ],
      },
    ],
  };
}

/** A Page or Instagram messaging delivery with one text message; timestamps are milliseconds. */
function messagingText(
  object: 'page' | 'instagram',
  ownerId: string,
  options: { senderId: string; mid: string; text: string; timestamp?: number },
) {
  const timestamp = options.timestamp ?? FIXTURE_EPOCH_SECONDS * 1000;
  return {
    object,
    entry: [
      {
        id: ownerId,
        time: timestamp + 500,
        messaging: [
          {
            sender: { id: options.senderId },
            recipient: { id: ownerId },
            timestamp,
            message: { mid: options.mid, text: options.text },
          },
        ],
      },
    ],
  };
}

export function messengerText(options: {
  pageId: string;
  senderId: string;
  mid: string;
  text: string;
  timestamp?: number;
}) {
  return messagingText('page', options.pageId, options);
}

export function instagramText(options: {
  accountId: string;
  senderId: string;
  mid: string;
  text: string;
  timestamp?: number;
}) {
  return messagingText('instagram', options.accountId, options);
}

/** A private-chat text message from the user whose chat id is `chatId`. */
export function telegramText(options: {
  updateId: number;
  chatId: number;
  text: string;
  messageId?: number;
  firstName?: string;
  date?: number;
}) {
  const firstName = options.firstName ?? 'Ada';
  return {
    update_id: options.updateId,
    message: {
      message_id: options.messageId ?? 1,
      from: { id: options.chatId, is_bot: false, first_name: firstName, language_code: 'en' },
      chat: { id: options.chatId, first_name: firstName, type: 'private' },
      date: options.date ?? FIXTURE_EPOCH_SECONDS,
      text: options.text,
    },
  };
}
