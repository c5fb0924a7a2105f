import type { z } from 'zod';
import type { ChannelHttpOptions } from '../adapters/channels/http.ts';
import type { ChannelClient } from '../ports/channel-client.ts';
import type { ChannelEntry } from './entry.ts';
import type { InboundMessage } from './inbound.ts';
import type { ReplyLimit, ReplyPart } from './markdown.ts';

export type { ChannelEntry, CredentialField } from './entry.ts';

// What a messaging channel is to Parley: one object per channel (shared/channels/<type>.ts), listed
// in registry.ts. The webhook intake, the connect flow, the reply worker and the clients' wiring
// call these members; none of them branches on a channel's name. A kind knows only its own name
// and credentials: the union of them all (ChannelType, ChannelCredentials) is the registry's.

/** A channel's credentials as a kind knows them before it is more precise: its fields, all strings. */
export type AnyCredentials = Record<string, string>;

/** What a connection's sealed value holds. */
export interface ChannelSecrets<C = AnyCredentials> {
  credentials: C;
  /** A secret the kind set up with the platform when connecting (Telegram's webhook secret token). */
  webhookSecret?: string;
}

/** A webhook delivery as it arrived. */
export interface SignedDelivery {
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The bytes as the platform sent them (base64-decoded). */
  readonly rawBody: Uint8Array;
}

/** The environment a client is configured from (`process.env`). */
export type ClientEnv = Readonly<Record<string, string | undefined>>;

/** What a test (or a caller with its own settings) gives a client beyond its environment. */
export interface ClientOptions extends ChannelHttpOptions<object> {
  /** The platform API's origin (tests point it at a wire server). */
  readonly baseUrl?: string;
  /** The API version in the path, where the platform has one (the Graph API). */
  readonly graphVersion?: string;
}

export interface ConnectContext<C, Client> {
  /** This kind's client, as `client()` built it. */
  client: Client;
  credentials: C;
  /** Where the platform must deliver this bot's messages. */
  webhookUrl: string;
}

export interface ChannelKind<
  T extends string = string,
  C extends AnyCredentials = AnyCredentials,
  Client extends ChannelClient<C> = ChannelClient<C>,
> extends ChannelEntry {
  readonly type: T;
  /** The credentials body of `PUT /admin/bots/{botId}/channels/{type}`, checked with field paths. */
  readonly credentials: z.ZodType<C>;
  /** The platform-side account replies come from: a bot, phone number, page or account id. */
  accountIdOf(credentials: C): string;
  /** The longest message the platform takes. */
  readonly replyLimit: ReplyLimit;
  /**
   * How long after the user's last message the platform lets the bot answer (Meta's 24-hour
   * messaging window); absent when it has no such rule.
   */
  readonly replyWindowSeconds?: number;
  /** A reply as the platform's messages: split at `replyLimit`, in its formatting. */
  format(markdown: string): ReplyPart[];
  /** The platform API client: its origin and version from `env`, or from `options`. */
  client(env: ClientEnv, options?: ClientOptions): Client;
  /**
   * Sets the connection up on the platform before anything is stored (Telegram: checks the token,
   * registers the webhook). Throws the error the admin sees: a 400 naming the field, or a 502.
   */
  connect?(context: ConnectContext<C, Client>): Promise<{ webhookSecret?: string }>;
  /** Undoes `connect` when the connection goes (Telegram: deletes the webhook). */
  disconnect?(context: { client: Client; secrets: ChannelSecrets<C> }): Promise<void>;
  /** Whether a delivery comes from the platform (a signature, a secret token), before it is read. */
  verify(delivery: SignedDelivery, secrets: ChannelSecrets<C>): boolean;
  /**
   * The platform's subscription handshake (`GET` on the webhook URL): the text to answer, or
   * undefined when the query does not prove it knows the connection's secret. Absent: 404.
   */
  handshake?(
    query: Readonly<Record<string, string | undefined>>,
    secrets: ChannelSecrets<C>,
  ): string | undefined;
  /** A delivery's body as the messages the bot answers; throws InboundPayloadError (400) when malformed. */
  parse(json: unknown): InboundMessage[];
}
