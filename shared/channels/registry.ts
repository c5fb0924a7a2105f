// Every messaging channel Parley offers: one ChannelKind per line. The type checker holds it to
// the catalog (catalog.ts): a channel named there and missing here, or the reverse, does not compile.

import { CHANNEL_TYPES, type ChannelType, isChannelType } from './catalog.ts';
import { instagram } from './instagram.ts';
import type { ChannelKind } from './kind.ts';
import { messenger } from './messenger.ts';
import { telegram } from './telegram.ts';
import { whatsapp } from './whatsapp.ts';

const KINDS: { readonly [T in ChannelType]: ChannelKind<T> } = {
  telegram,
  whatsapp,
  messenger,
  instagram,
};

/** The kinds, in the catalog's order. */
export const CHANNEL_KINDS: readonly ChannelKind[] = CHANNEL_TYPES.map((type) => KINDS[type]);

/** The kind of a known channel (a typed name cannot miss). */
export const kindOf = <T extends ChannelType>(type: T): ChannelKind<T> => KINDS[type];

/** The kind of a channel name from a URL or a record; undefined when there is no such channel. */
export function channelKind(type: string): ChannelKind | undefined {
  return isChannelType(type) ? KINDS[type] : undefined;
}
