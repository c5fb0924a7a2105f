/**
 * What a channel's platform API does for Parley: send replies, and (Telegram) manage its webhook.
 * `C` is the channel's credentials; channel names are plain strings here, since the list of
 * channels is the registry's, which is built from the clients' own kinds.
 */
export interface ChannelClient<C = Record<string, string>> {
  readonly channel: string;
  /**
   * Sends `text` to the platform user `to` (Telegram: chat id; WhatsApp: phone number; Messenger
   * and Instagram: the page-scoped / Instagram-scoped user id), split at the platform's limit and
   * converted to its formatting, parts in order. Retries 429, 5xx and Meta's throttling codes with
   * backoff, and requests that surely never arrived; never one that may have (`unknown`). Throws
   * `ChannelSendError` when it gives up. Returns the platform's message ids.
   */
  send(credentials: C, to: string, text: string, options?: SendOptions): Promise<{ messageIds: string[] }>;
}

export interface SendOptions {
  /** Starts at this part of the split reply: the earlier ones were delivered by an earlier try. */
  readonly fromPart?: number;
}

export interface TelegramAdmin {
  /** `getMe`: the bot's username when the token is valid; `ChannelSendError` (rejected) otherwise. */
  verify(botToken: string): Promise<{ id: number; username: string }>;
  /** `setWebhook` with the secret token Telegram will echo in `X-Telegram-Bot-Api-Secret-Token`. */
  setWebhook(botToken: string, url: string, secretToken: string): Promise<void>;
  /** `deleteWebhook` (also drops pending updates). */
  deleteWebhook(botToken: string): Promise<void>;
}

export type ChannelFailure =
  /** The platform refused the request (bad token, unknown recipient): retrying cannot help. */
  | 'rejected'
  /** Throttled or failing until the retries ran out: nothing of the failed request was delivered. */
  | 'unavailable'
  /**
   * A send got no answer (a timeout, a dropped connection): the platform may have delivered it.
   * Sends are not retried then, since a retry could deliver the message twice.
   */
  | 'unknown';

export class ChannelSendError extends Error {
  readonly channel: string;
  readonly failure: ChannelFailure;
  /** The HTTP status of the last attempt, when there was one. */
  readonly status?: number;
  /** Parts already delivered before the failure (a split reply), counted from `fromPart`. */
  readonly delivered: number;
  /** The platform refused the credentials themselves (a revoked or wrong token). */
  readonly credentialsRefused: boolean;
  constructor(
    message: string,
    options: {
      channel: string;
      failure: ChannelFailure;
      status?: number;
      delivered?: number;
      credentialsRefused?: boolean;
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = 'ChannelSendError';
    this.channel = options.channel;
    this.failure = options.failure;
    this.status = options.status;
    this.delivered = options.delivered ?? 0;
    this.credentialsRefused = options.credentialsRefused ?? false;
  }
}
