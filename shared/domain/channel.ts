import { z } from 'zod';

// Messaging channels a bot can be connected to, their credentials (DESIGN §5) and the limits of
// each platform. Credentials are sealed by the SecretBox before they are stored and are never
// returned: the API shows them masked.

export const CHANNEL_TYPES = ['telegram', 'whatsapp', 'messenger', 'instagram'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];
export const ChannelTypeSchema = z.enum(CHANNEL_TYPES);

const secret = (max = 1024) => z.string().trim().min(1).max(max);
/** Numeric ids Meta gives phone numbers, pages and Instagram accounts. */
const metaId = z.string().regex(/^\d{1,30}$/, 'must be the numeric id Meta shows');

export const TelegramCredentialsSchema = z.strictObject({
  /** From @BotFather: `<bot id>:<secret>`. */
  botToken: z
    .string()
    .regex(/^\d{3,20}:[A-Za-z0-9_-]{20,100}$/, 'must be a bot token from @BotFather (123456:ABC…)'),
});
export const WhatsAppCredentialsSchema = z.strictObject({
  phoneNumberId: metaId,
  accessToken: secret(),
  appSecret: secret(256),
  verifyToken: secret(256),
});
export const MessengerCredentialsSchema = z.strictObject({
  pageId: metaId,
  pageAccessToken: secret(),
  appSecret: secret(256),
  verifyToken: secret(256),
});
export const InstagramCredentialsSchema = z.strictObject({
  accountId: metaId,
  pageAccessToken: secret(),
  appSecret: secret(256),
  verifyToken: secret(256),
});

export const CredentialSchemas = {
  telegram: TelegramCredentialsSchema,
  whatsapp: WhatsAppCredentialsSchema,
  messenger: MessengerCredentialsSchema,
  instagram: InstagramCredentialsSchema,
} as const;

export type TelegramCredentials = z.infer<typeof TelegramCredentialsSchema>;
export type WhatsAppCredentials = z.infer<typeof WhatsAppCredentialsSchema>;
export type MessengerCredentials = z.infer<typeof MessengerCredentialsSchema>;
export type InstagramCredentials = z.infer<typeof InstagramCredentialsSchema>;
export type MetaCredentials = WhatsAppCredentials | MessengerCredentials | InstagramCredentials;
export type ChannelCredentials = {
  telegram: TelegramCredentials;
  whatsapp: WhatsAppCredentials;
  messenger: MessengerCredentials;
  instagram: InstagramCredentials;
};

/** The longest reply each platform takes in one message: characters (UTF-16 code units) or bytes. */
export const REPLY_LIMITS: Record<ChannelType, { max: number; unit: 'chars' | 'bytes' }> = {
  telegram: { max: 4096, unit: 'chars' },
  whatsapp: { max: 4096, unit: 'chars' },
  messenger: { max: 2000, unit: 'chars' },
  instagram: { max: 1000, unit: 'bytes' },
};

/** Meta's throttling error codes, which arrive under HTTP 400 as well as 429: retry on them. */
export const META_THROTTLING_CODES: readonly number[] = [4, 17, 32, 613, 130429];

export const DEFAULT_GRAPH_API_VERSION = 'v23.0';

/** A bot's connection to a channel, as stored: the credentials only sealed. */
export interface ChannelConnection {
  tenantId: string;
  botId: string;
  type: ChannelType;
  /** SecretBox-sealed JSON `{credentials, webhookSecret?}` (Telegram's secret token rides along). */
  sealed: string;
  /** Each credential field masked (`••••1a2b`), computed when connected: reads never open the box. */
  masked: Record<string, string>;
  /** The platform-side id replies come from: Telegram bot id, phone number, page or account id. */
  accountId: string;
  status: 'connected' | 'error';
  lastInboundAt?: string;
  /** The last failed send, as the platform described it (never a token), and when. */
  lastError?: string;
  lastErrorAt?: string;
  createdAt: string;
  updatedAt: string;
}

export const ChannelViewSchema = z.object({
  type: ChannelTypeSchema,
  status: z
    .enum(['connected', 'error'])
    .describe('error: the platform refused the credentials on the last send (see lastError)'),
  webhookUrl: z.string().describe('Where the platform must deliver this bot’s messages'),
  lastInboundAt: z.string().nullable().describe('When the last message arrived (to the minute)'),
  lastError: z.string().nullable().describe('The last failed send, as the platform described it'),
  lastErrorAt: z.string().nullable(),
  credentials: z.record(z.string(), z.string()).describe('Masked: the last four characters at most'),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ChannelView = z.infer<typeof ChannelViewSchema>;

/** `••••` plus the last four characters of long values (none of short ones), as keys are shown. */
export function maskSecret(value: string): string {
  return value.length >= 12 ? `••••${value.slice(-4)}` : '••••';
}

/** The credentials shown to admins: ids in clear (they are not secrets), everything else masked. */
export function maskCredentials(credentials: Record<string, string>): Record<string, string> {
  const ids = new Set(['phoneNumberId', 'pageId', 'accountId']);
  return Object.fromEntries(
    Object.entries(credentials).map(([name, value]) => [name, ids.has(name) ? value : maskSecret(value)]),
  );
}

/** The platform-side account a connection answers as, from its credentials. */
export function accountIdOf(type: ChannelType, credentials: Record<string, string>): string {
  switch (type) {
    case 'telegram':
      return (credentials.botToken ?? '').split(':')[0] ?? '';
    case 'whatsapp':
      return credentials.phoneNumberId ?? '';
    case 'messenger':
      return credentials.pageId ?? '';
    case 'instagram':
      return credentials.accountId ?? '';
  }
}

export function toChannelView(connection: ChannelConnection, webhookUrl: string): ChannelView {
  return {
    type: connection.type,
    status: connection.status,
    webhookUrl,
    lastInboundAt: connection.lastInboundAt ?? null,
    lastError: connection.lastError ?? null,
    lastErrorAt: connection.lastErrorAt ?? null,
    credentials: connection.masked,
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
  };
}
