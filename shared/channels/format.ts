import type { ChannelType } from './catalog.ts';
import type { ReplyPart } from './markdown.ts';
import { channelKind } from './registry.ts';

/**
 * A reply as the messages `channel` receives, in order: split at its limit and in its formatting
 * (its kind's `format`; the splitting and rendering are markdown.ts).
 */
export function formatReply(channel: ChannelType, markdown: string): ReplyPart[] {
  const kind = channelKind(channel);
  if (!kind) throw new RangeError(`No such channel: ${channel}`);
  return kind.format(markdown);
}
