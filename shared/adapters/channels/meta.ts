// A Meta channel's Graph API client by its name, with the options a test gives it. The functions
// build theirs through the channel's kind (`kind.client(process.env)`); the client itself is
// graph.ts, and what each product sends is its kind's (shared/channels/<type>.ts).

import type { ChannelType } from '../../channels/catalog.ts';
import type { ClientOptions } from '../../channels/kind.ts';
import type { MetaChannelType } from '../../channels/meta.ts';
import { channelKind } from '../../channels/registry.ts';
import type { ChannelClient } from '../../ports/channel-client.ts';

export type MetaChannel = MetaChannelType;

export function createMetaClient<C extends MetaChannel>(
  channel: C,
  options: ClientOptions = {},
): ChannelClient<C> {
  const kind = channelKind(channel);
  if (!kind) throw new RangeError(`No such channel: ${channel as ChannelType}`);
  return kind.client({}, options) as ChannelClient<C>;
}
