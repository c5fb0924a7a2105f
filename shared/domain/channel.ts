import * as z from 'zod';
import { CHANNEL_TYPES, type ChannelType, kindOf } from '../channels/registry.ts';

// A bot's connections to messaging channels (DESIGN §5). Credentials are sealed by the SecretBox
// before they are stored and are never returned: the API shows them masked. Which channels there
// are, their credential fields and what each one does are their ChannelKinds'
// (shared/channels/registry.ts).

export { CHANNEL_TYPES, type ChannelCredentials, type ChannelType } from '../channels/registry.ts';
export const ChannelTypeSchema = z.enum(CHANNEL_TYPES);

/** A bot's connection to a channel, as stored: the credentials only sealed. */
export interface ChannelConnection {
  tenantId: string;
  botId: string;
  type: ChannelType;
  /** SecretBox-sealed JSON `{credentials, webhookSecret?}` (a secret the kind set up when connecting). */
  sealed: string;
  /** Each credential field masked (`••••1a2b`), computed when connected: reads never open the box. */
  masked: Record<string, string>;
  /** The platform-side id replies come from (the kind's `accountIdOf`): a bot, phone number, page or account id. */
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
export function maskCredentials(
  type: ChannelType,
  credentials: Record<string, string>,
): Record<string, string> {
  const ids = new Set(
    kindOf(type)
      .fields.filter((field) => !field.secret)
      .map((field) => field.name),
  );
  return Object.fromEntries(
    Object.entries(credentials).map(([name, value]) => [name, ids.has(name) ? value : maskSecret(value)]),
  );
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
