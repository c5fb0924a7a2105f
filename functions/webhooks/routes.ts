import * as z from 'zod';
import { json } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable } from '../../shared/http/router.ts';
import { takeDelivery, type WebhookDeps, webhookHandshake } from '../../shared/usecases/webhooks.ts';

const HandshakeQuerySchema = z.looseObject({
  'hub.mode': z.string().optional().describe('subscribe'),
  'hub.verify_token': z.string().optional().describe('The verify token given when connecting'),
  'hub.challenge': z.string().optional().describe('Echoed back when the token matches'),
});

const IntakeSchema = z
  .object({
    queued: z
      .int()
      .describe('Messages queued for a reply, re-deliveries included (each message is answered once)'),
    foreign: z.int().describe('Messages for another page or number than the connected one'),
  })
  .meta({ id: 'WebhookIntake' });

/** The platforms' routes: Meta's handshake, and deliveries of every channel. */
export function webhookRoutes(deps: () => WebhookDeps): RouteTable {
  return {
    'GET /webhooks/{channel}/{botId}': defineRoute({
      summary: "Meta's webhook verification handshake (WhatsApp, Messenger, Instagram)",
      query: HandshakeQuerySchema,
      responses: {
        200: { description: 'The challenge, as plain text' },
        401: { description: 'The verify token does not match' },
        404: { description: 'No such bot, or it is not connected to this channel' },
      },
      run: async ({ params, query }) => ({
        statusCode: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        body: await webhookHandshake(
          deps(),
          params.channel ?? '',
          params.botId ?? '',
          query as Record<string, string | undefined>,
        ),
      }),
    }),
    'POST /webhooks/{channel}/{botId}': defineRoute({
      summary: 'A delivery from the platform, checked with the channel’s secret and queued for replies',
      responses: {
        200: { description: 'Taken in (including what the bot does not answer)', schema: IntakeSchema },
        400: { description: "Not the platform's format" },
        401: { description: 'Unsigned, or not signed with this channel’s secret' },
        404: { description: 'No such bot, or it is not connected to this channel' },
      },
      run: async ({ params, event }) => {
        const body = event.body ?? '';
        const result = await takeDelivery(deps(), {
          channel: params.channel ?? '',
          botId: params.botId ?? '',
          headers: event.headers,
          rawBody: Buffer.from(body, event.isBase64Encoded ? 'base64' : 'utf8'),
          requestId: event.requestContext?.requestId,
        });
        return json(200, result);
      },
    }),
  };
}
