// The messaging channels Parley offers, as the console shows them: each one's name, title,
// credential fields and set-up note. Plain data without zod or Node, so the web app imports it
// as it is; the server takes the channel names and credential field names from it too, and each
// name's behaviour from its ChannelKind (registry.ts, which the type checker holds to this list).

export interface CredentialField {
  /** The field of the credentials body (`PUT /admin/bots/{botId}/channels/{channel}`). */
  readonly name: string;
  readonly label: string;
  /** Shown masked once stored; ids (a phone number id, a page id) are not secret and shown in clear. */
  readonly secret: boolean;
  readonly hint?: string;
}

export interface ChannelEntry {
  /** The channel's name: in routes, records, sessions and the webhook URL. */
  readonly type: string;
  readonly title: string;
  readonly fields: readonly CredentialField[];
  /** What the admin does on the platform's side once connected. */
  readonly setup: string;
}

const VERIFY_HINT = 'Any secret you choose; enter the same one in your Meta app’s webhook settings.';
const APP_SECRET_HINT = 'From your Meta app’s basic settings; proves that messages come from Meta.';

export const CHANNEL_CATALOG = [
  {
    type: 'telegram',
    title: 'Telegram',
    fields: [
      { name: 'botToken', label: 'Bot token', secret: true, hint: 'From @BotFather, like 123456:ABC-DEF…' },
    ],
    setup: 'Parley checks the token and registers the webhook with Telegram when you connect.',
  },
  {
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
      { name: 'appSecret', label: 'App secret', secret: true, hint: APP_SECRET_HINT },
      { name: 'verifyToken', label: 'Verify token', secret: true, hint: VERIFY_HINT },
    ],
    setup:
      'After connecting, enter the webhook URL and verify token in your Meta app and subscribe to messages.',
  },
  {
    type: 'messenger',
    title: 'Messenger',
    fields: [
      { name: 'pageId', label: 'Page ID', secret: false, hint: 'The numeric ID of the Facebook Page.' },
      { name: 'pageAccessToken', label: 'Page access token', secret: true },
      { name: 'appSecret', label: 'App secret', secret: true, hint: APP_SECRET_HINT },
      { name: 'verifyToken', label: 'Verify token', secret: true, hint: VERIFY_HINT },
    ],
    setup:
      'After connecting, enter the webhook URL and verify token in your Meta app and subscribe the Page.',
  },
  {
    type: 'instagram',
    title: 'Instagram',
    fields: [
      {
        name: 'accountId',
        label: 'Instagram account ID',
        secret: false,
        hint: 'The numeric ID of the Instagram account.',
      },
      {
        name: 'pageAccessToken',
        label: 'Page access token',
        secret: true,
        hint: 'Of the Facebook Page linked to the account.',
      },
      { name: 'appSecret', label: 'App secret', secret: true, hint: APP_SECRET_HINT },
      { name: 'verifyToken', label: 'Verify token', secret: true, hint: VERIFY_HINT },
    ],
    setup: 'After connecting, enter the webhook URL and verify token in your Meta app (Instagram messaging).',
  },
] as const satisfies readonly ChannelEntry[];

type Catalog = (typeof CHANNEL_CATALOG)[number];

export type ChannelType = Catalog['type'];

/** The channel names, in the catalog's order (the console's, and the connection list's). */
export const CHANNEL_TYPES: readonly ChannelType[] = CHANNEL_CATALOG.map((entry) => entry.type);

/** Each channel's credentials: its fields, all strings (its ChannelKind's schema checks their shape). */
export type ChannelCredentials = {
  [E in Catalog as E['type']]: { [F in E['fields'][number] as F['name']]: string };
};

export const isChannelType = (value: unknown): value is ChannelType =>
  (CHANNEL_TYPES as readonly unknown[]).includes(value);

export function channelEntry(type: ChannelType): ChannelEntry {
  return CHANNEL_CATALOG.find((entry) => entry.type === type) as ChannelEntry;
}
