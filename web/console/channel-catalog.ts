// The messaging channels the server offers, as its registry lists them (shared/channels/registry.ts).
// web/build.ts writes the list into the bundle when it builds the app: the kinds themselves hold
// zod schemas and Node clients, which have no place in a browser.

import type { ChannelEntry } from '../../shared/channels/entry.ts';

declare const PARLEY_CHANNEL_CATALOG: readonly ChannelEntry[];

export const CHANNEL_CATALOG: readonly ChannelEntry[] = PARLEY_CHANNEL_CATALOG;
