// The channel registry: each kind's credentials schema takes exactly the fields the console asks
// for (the console's list is the registry's CHANNEL_CATALOG, written into its bundle).

import { describe, expect, it } from '@jest/globals';
import * as z from 'zod';
import { CHANNEL_CATALOG, channelKind } from '../../shared/channels/registry.ts';

describe('channel registry', () => {
  it('checks exactly the credential fields the catalog shows', () => {
    for (const entry of CHANNEL_CATALOG) {
      const schema = channelKind(entry.type)?.credentials;
      expect(schema).toBeInstanceOf(z.ZodObject);
      const keys = Object.keys((schema as unknown as z.ZodObject).shape);
      expect(keys).toEqual(entry.fields.map((field) => field.name));
    }
  });

  it('knows no channel by another name', () => {
    for (const name of ['', 'web', 'api', 'Telegram', 'constructor', '__proto__', 'toString']) {
      expect(channelKind(name)).toBeUndefined();
    }
  });
});
