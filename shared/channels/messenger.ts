// Messenger, through the Messenger Send API: a Facebook Page's id and access token, and the Meta
// app's secret and verify token (meta.ts). Plain-text replies, split at 2000 characters, sent as
// the Page in answer to the user (`messaging_type: RESPONSE`).

import * as z from 'zod';
import { PLAIN } from './markdown.ts';
import { META_APP_FIELDS, messagingEntry, metaId, metaKind, metaSecret } from './meta.ts';

const CredentialsSchema = z.strictObject({
  pageId: metaId,
  pageAccessToken: metaSecret(),
  appSecret: metaSecret(256),
  verifyToken: metaSecret(256),
});

export const messenger = metaKind({
  type: 'messenger',
  title: 'Messenger',
  fields: [
    { name: 'pageId', label: 'Page ID', secret: false, hint: 'The numeric ID of the Facebook Page.' },
    { name: 'pageAccessToken', label: 'Page access token', secret: true },
    ...META_APP_FIELDS,
  ],
  setup: 'After connecting, enter the webhook URL and verify token in your Meta app and subscribe the Page.',
  object: 'page',
  credentials: CredentialsSchema,
  accountIdOf: (credentials) => credentials.pageId,
  replies: { limit: { max: 2000, unit: 'chars' }, markup: PLAIN },
  message: (credentials, to, text) => ({
    node: credentials.pageId,
    token: credentials.pageAccessToken,
    body: { recipient: { id: to }, messaging_type: 'RESPONSE', message: { text } },
  }),
  entry: messagingEntry,
});
