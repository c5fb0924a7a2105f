import { createHash } from 'node:crypto';
import * as z from 'zod';
import { ChannelTypeSchema } from '../domain/channel.ts';
import type { InboundMessage } from './inbound.ts';

// What the webhook puts on the FIFO reply queue for each message, and what the reply function
// reads back: the bot it is for, the message as parsed, and its key (the queue's deduplication
// id, which also names its de-duplication and send records).

/** What every inbound message carries (shared/channels/inbound.ts). */
const MessageBase = z.object({
  channel: ChannelTypeSchema,
  messageId: z.string(),
  userId: z.string(),
  recipientId: z.string().optional(),
  timestamp: z.string(),
  userName: z.string().optional(),
});

export const ReplyJobSchema = z.object({
  tenantId: z.string().min(1),
  botId: z.string().min(1),
  /** `replyDeduplicationId(botId, message)`. */
  key: z.string().min(1),
  message: z.discriminatedUnion('kind', [
    MessageBase.extend({ kind: z.literal('text'), text: z.string() }),
    MessageBase.extend({ kind: z.literal('unsupported'), unsupportedType: z.string() }),
  ]),
  /** When the webhook took it in (ISO 8601), for the time from platform to reply. */
  receivedAt: z.string(),
  /** The webhook request's id: the reply's log lines carry it, so one search follows a message through. */
  requestId: z.string().optional(),
});
export type ReplyJob = z.infer<typeof ReplyJobSchema> & { message: InboundMessage };

/**
 * The FIFO group of a user's messages to a bot on a channel: they are answered one at a time, in
 * order. A digest, since SQS allows 128 characters and platform user ids are unbounded.
 */
export function replyGroupId(botId: string, message: Pick<InboundMessage, 'channel' | 'userId'>): string {
  return createHash('sha256').update(`${botId}\n${message.channel}\n${message.userId}`).digest('hex');
}
