// What makes each platform message answered once: the reply worker's send records. Every delivery
// of a message reads its record first; every message the worker handles ends with one (the reply
// recorded before it is sent and confirmed after, or `skipped`), so a platform's re-delivery that
// the FIFO queue's 5-minute de-duplication no longer catches (Meta re-delivers for up to a day)
// finds it and is not answered again, and a redelivered message is never answered twice. Plus the
// polite notices that are sent at most once per user and window. Every record belongs to one bot,
// goes with it, and expires.

/**
 * Where a reply stands:
 * - `sending`: recorded before the send; finding it later means the worker stopped mid-send.
 * - `sent`: the platform took every part.
 * - `retry`: the platform was unavailable; `delivered` parts went, the rest may be sent again.
 * - `unconfirmed`: a send got no answer or the worker died mid-send: it may have arrived, and is
 *   never sent again.
 * - `rejected`: the platform refused it (a blocked user, a revoked token); not retried.
 * - `skipped`: nothing to send (a limit already noticed, a disabled or deleted bot, a disconnected
 *   channel, the platform's messaging window closed).
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
  getSend(scope: ReplyScope, key: string, now: Date): Promise<SendRecord | undefined>;
  /**
   * Writes the send record (`sending`, or `skipped`) unless a live one is there, until `expiresAt`
   * (epoch seconds): false when one is (another delivery of the message wrote it).
   */
  createSend(scope: ReplyScope, key: string, record: SendRecord, expiresAt: number): Promise<boolean>;
  /** Moves the record from `from` to `to`: false when it was not in `from` any more. */
  moveSend(scope: ReplyScope, key: string, from: SendState, to: SendRecord): Promise<boolean>;
  /** Takes the notice `key` until `expiresAt`: true for the one call that took it. */
  takeNotice(scope: ReplyScope, key: string, expiresAt: number, now: Date): Promise<boolean>;
  /** Deletes every record of the bot (the deletion cascade). */
  deleteBot(scope: ReplyScope): Promise<void>;
}
