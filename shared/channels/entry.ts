// A channel as the console shows it: plain data, without zod or Node, so that the web app can
// use the type. Each ChannelKind is one (kind.ts); the registry lists them (CHANNEL_CATALOG).

/** One field of a channel's credentials, as the console asks for it. */
export interface CredentialField {
  /** The field of the credentials body (`PUT /admin/bots/{botId}/channels/{channel}`). */
  readonly name: string;
  readonly label: string;
  /** Shown masked once stored; ids (a phone number id, a page id) are not secret and shown in clear. */
  readonly secret: boolean;
  readonly hint?: string;
}

/** A channel as the console shows it: plain data (the web app gets the list at build time). */
export interface ChannelEntry {
  /** The channel's name: in routes, records, sessions and the webhook URL. */
  readonly type: string;
  readonly title: string;
  /** The credentials body's fields, in the order the console asks for them. */
  readonly fields: readonly CredentialField[];
  /** What the admin does on the platform's side once connected. */
  readonly setup: string;
}
