import type { APIGatewayProxyEvent } from 'aws-lambda';
import * as z from 'zod';
import { CHANNEL_CATALOG } from '../../shared/channels/registry.ts';
import {
  type ChannelType,
  ChannelTypeSchema,
  ChannelViewSchema,
  toChannelView,
} from '../../shared/domain/channel.ts';
import { NotFoundError } from '../../shared/domain/errors.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable, tenantOf } from '../../shared/http/router.ts';
import {
  type ChannelDeps,
  connectChannel,
  disconnectChannel,
  getChannel,
  webhookPath,
} from '../../shared/usecases/channels.ts';
import { getBot } from '../../shared/usecases/lookups.ts';

/**
 * Where the platforms must deliver: under `PUBLIC_BASE_URL` when configured (a custom domain),
 * else the URL this request came in on (API Gateway's domain and stage).
 */
export function publicBaseUrlOf(event: APIGatewayProxyEvent, configured: string | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  const host = event.requestContext?.domainName ?? event.headers?.host ?? 'localhost';
  // API Gateway's own domain carries the stage in the path; a custom domain maps it away.
  const stage = event.requestContext?.stage;
  return `https://${host}${host.includes('.execute-api.') && stage ? `/${stage}` : ''}`;
}

function channelOf(value: string | undefined): ChannelType {
  const parsed = ChannelTypeSchema.safeParse(value);
  if (!parsed.success)
    throw new NotFoundError(`No such channel: use one of ${ChannelTypeSchema.options.join(', ')}`);
  return parsed.data;
}

const ChannelResponse = z.object({ channel: ChannelViewSchema });
/** Each channel's credential fields, from the registry (`<type> {field, …}; …`); its kind checks them. */
const CredentialsBody = z
  .looseObject({})
  .describe(
    CHANNEL_CATALOG.map((entry) => `${entry.type} {${entry.fields.map((f) => f.name).join(', ')}}`).join(
      '; ',
    ),
  );

/** Connecting a bot to a messaging channel (tenant key). */
export function channelRoutes(deps: () => ChannelDeps & { publicBaseUrl?: string }): RouteTable {
  return {
    'GET /admin/bots/{botId}/channels': defineRoute({
      summary: "The bot's channel connections, with their status and webhook URLs",
      responses: {
        200: { description: 'Connections', schema: z.object({ items: z.array(ChannelViewSchema) }) },
      },
      run: async ({ principal, params, event }) => {
        const d = deps();
        const bot = await getBot(d, tenantOf(principal), params.botId ?? '');
        const base = publicBaseUrlOf(event, deps().publicBaseUrl);
        const items = (await d.channels.list(bot.tenantId, bot.id)).map((c) =>
          toChannelView(c, base + webhookPath(c.type, bot.id)),
        );
        return json(200, { items });
      },
    }),
    'PUT /admin/bots/{botId}/channels/{channel}': defineRoute({
      summary: 'Connect the bot to a channel (Telegram: checks the token and registers the webhook)',
      body: CredentialsBody,
      responses: {
        200: { description: 'Connected; credentials masked', schema: ChannelResponse },
        400: { description: 'Credentials missing, malformed, or refused by Telegram' },
        502: { description: 'Telegram could not be reached' },
      },
      run: async ({ principal, params, body, event }) => {
        const type = channelOf(params.channel);
        const botId = params.botId ?? '';
        const url = publicBaseUrlOf(event, deps().publicBaseUrl) + webhookPath(type, botId);
        const connection = await connectChannel(deps(), tenantOf(principal), botId, type, body, url);
        return json(200, { channel: toChannelView(connection, url) });
      },
    }),
    'GET /admin/bots/{botId}/channels/{channel}': defineRoute({
      summary: 'One channel connection: status, last inbound message, last error, masked credentials',
      responses: { 200: { description: 'The connection', schema: ChannelResponse } },
      run: async ({ principal, params, event }) => {
        const type = channelOf(params.channel);
        const connection = await getChannel(deps(), tenantOf(principal), params.botId ?? '', type);
        return json(200, {
          channel: toChannelView(
            connection,
            publicBaseUrlOf(event, deps().publicBaseUrl) + webhookPath(type, connection.botId),
          ),
        });
      },
    }),
    'DELETE /admin/bots/{botId}/channels/{channel}': defineRoute({
      summary: 'Disconnect: Telegram’s webhook is deleted, and the credentials with it',
      responses: { 204: { description: 'Disconnected' } },
      run: async ({ principal, params }) => {
        await disconnectChannel(deps(), tenantOf(principal), params.botId ?? '', channelOf(params.channel));
        return noContent();
      },
    }),
  };
}
