// What makes each platform message answered once: the webhook's de-duplication records (a message
// taken in is not queued again when the platform re-delivers it) and the reply worker's send
// records (a reply is recorded before it is sent and confirmed after, so a redelivered message is
// never answered twice), plus the polite notices that are sent at most once per user and window.
// Every record belongs to one bot, goes with it, and expires.

/**
 * Where a reply stands:
 * - `sending`: recorded before the send; finding it later means the worker stopped mid-send.
 * - `sent`: the platform took every part.
 * - `retry`: the platform was unavailable; `delivered` parts went, the rest may be sent again.
 * - `unconfirmed`: a send got no answer or the worker died mid-send: it may have arrived, and is
 *   never sent again.
 * - `rejected`: the platform refused it (a blocked user, a revoked token); not retried.
 * - `skipped`: nothing to send (a limit already noticed, a disabled or deleted bot).
 */
export type SendState = 'sending' | 'sent' | 'retry' | 'unconfirmed' | 'rejected' | 'skipped';

export interface SendRecord {
  state: SendState;
  /** The reply, kept while parts of it may still be sent (`sending`, `retry`). */
  text?: string;
  /** Parts the platform took. */
  delivered: number;
  updatedAt: string;
}

export interface ReplyScope {
  tenantId: string;
  botId: string;
}

export interface ReplyLedger {
  /** Which of these inbound message keys were already taken in (and not expired at `now`). */
  seen(scope: ReplyScope, keys: readonly string[], now: Date): Promise<Set<string>>;
  /** Records that these messages were taken in, until `expiresAt` (epoch seconds). */
  remember(scope: ReplyScope, keys: readonly string[], expiresAt: number): Promise<void>;
  getSend(scope: ReplyScope, key: string, now: Date): Promise<SendRecord | undefined>;
  /** Writes the send record if there is none: false when there is (another delivery has it). */
  beginSend(scope: ReplyScope, key: string, record: SendRecord, expiresAt: number): Promise<boolean>;
  /** Moves the record from `from` to `to`: false when it was not in `from` any more. */
  moveSend(scope: ReplyScope, key: string, from: SendState, to: SendRecord): Promise<boolean>;
  /** Takes the notice `key` until `expiresAt`: true for the one call that took it. */
  takeNotice(scope: ReplyScope, key: string, expiresAt: number, now: Date): Promise<boolean>;
  /** Deletes every record of the bot (the deletion cascade). */
  deleteBot(scope: ReplyScope): Promise<void>;
}
