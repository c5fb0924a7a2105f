// Every messaging channel Parley offers: one ChannelKind per line. The channel names, their
// credentials' types and the console's list of channels are all derived from this list.

import type { z } from 'zod';
import { instagram } from './instagram.ts';
import type { ChannelEntry, ChannelKind } from './kind.ts';
import { messenger } from './messenger.ts';
import { telegram } from './telegram.ts';
import { whatsapp } from './whatsapp.ts';

/** In the console's order (and the connection list's). */
const KINDS = [telegram, whatsapp, messenger, instagram] as const;

type Kind = (typeof KINDS)[number];

/** A channel's name: in routes, records, sessions and the webhook URL. */
export type ChannelType = Kind['type'];

/** Each channel's credentials, as its kind's schema reads them. */
export type ChannelCredentials = { [K in Kind as K['type']]: z.infer<K['credentials']> };

/** The kinds, in the registry's order. */
export const CHANNEL_KINDS: readonly ChannelKind[] = KINDS;

/** The channel names, in the registry's order. */
export const CHANNEL_TYPES: readonly ChannelType[] = KINDS.map((kind) => kind.type);

export const isChannelType = (value: unknown): value is ChannelType =>
  (CHANNEL_TYPES as readonly unknown[]).includes(value);

/** The kind of a known channel (a typed name cannot miss). */
export const kindOf = <T extends ChannelType>(type: T): ChannelKind<T, ChannelCredentials[T]> =>
  KINDS.find((kind) => kind.type === type) as unknown as ChannelKind<T, ChannelCredentials[T]>;

/** The kind of a channel name from a URL or a record; undefined when there is no such channel. */
export function channelKind(type: string): ChannelKind<ChannelType> | undefined {
  return isChannelType(type) ? kindOf(type) : undefined;
}

/**
 * The channels as the console shows them: plain data, which web/build.ts hands the web app when
 * it is built (the app cannot import the kinds: they hold zod schemas and Node clients).
 */
export const CHANNEL_CATALOG: readonly ChannelEntry[] = KINDS.map(({ type, title, fields, setup }) => ({
  type,
  title,
  fields,
  setup,
}));
