// Instagram, through the Messenger API for Instagram: the Instagram account's id, the access token
// of the Facebook Page linked to it, and the Meta app's secret and verify token (meta.ts).
// Plain-text replies, split at 1000 UTF-8 bytes. They are posted to the node `me`, which the Page
// access token resolves to the Page, as Meta documents it.

import * as z from 'zod';
import { PLAIN } from './markdown.ts';
import { META_APP_FIELDS, messagingEntry, metaId, metaKind, metaSecret } from './meta.ts';

const CredentialsSchema = z.strictObject({
  accountId: metaId,
  pageAccessToken: metaSecret(),
  appSecret: metaSecret(256),
  verifyToken: metaSecret(256),
});

export const instagram = metaKind({
  type: 'instagram',
  title: 'Instagram',
  fields: [
    {
      name: 'accountId',
      label: 'Instagram account ID',
      secret: false,
      hint: 'The numeric ID of the Instagram account.',
    },
    {
      name: 'pageAccessToken',
      label: 'Page access token',
      secret: true,
      hint: 'Of the Facebook Page linked to the account.',
    },
    ...META_APP_FIELDS,
  ],
  setup: 'After connecting, enter the webhook URL and verify token in your Meta app (Instagram messaging).',
  object: 'instagram',
  credentials: CredentialsSchema,
  accountIdOf: (credentials) => credentials.accountId,
  replies: { limit: { max: 1000, unit: 'bytes' }, markup: PLAIN },
  message: (credentials, to, text) => ({
    node: 'me',
    token: credentials.pageAccessToken,
    body: { recipient: { id: to }, message: { text } },
  }),
  entry: messagingEntry,
});
