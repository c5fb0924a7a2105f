import { SQSClient } from '@aws-sdk/client-sqs';
import { createDynamoChannelRepository } from '../../shared/adapters/dynamodb/channels.ts';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createSqsFifoQueue } from '../../shared/adapters/sqs/queue.ts';
import { httpHandler } from '../../shared/http/handler.ts';
import { once } from '../../shared/memo.ts';
import { traced } from '../../shared/tracing.ts';
import type { WebhookDeps } from '../../shared/usecases/webhooks.ts';
import { lazySecretBox } from '../../shared/wiring/channels.ts';
import { functionClock } from '../../shared/wiring/clock.ts';
import { readEnv, required } from '../../shared/wiring/env.ts';
import { webhookRoutes } from './routes.ts';

/** Meta batches up to 1000 events per delivery; a megabyte is far beyond any real one. */
const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

const deps = once((): WebhookDeps => {
  const env = readEnv({ TENANTS_TABLE: required, REPLY_QUEUE_URL: required });
  const db = createDocumentClient();
  return {
    channels: createDynamoChannelRepository(db, env.TENANTS_TABLE),
    secretBox: lazySecretBox(),
    replies: createSqsFifoQueue(traced(new SQSClient({})), env.REPLY_QUEUE_URL),
    clock: functionClock,
  };
});

// No keys: the platforms prove themselves with the channel's secret, checked by the use-case.
const noKeys = () => {
  throw new Error('webhook routes are open to anyone; nothing asks for API keys');
};

export const handler = httpHandler(webhookRoutes(deps), noKeys, {
  rawBody: true,
  maxBodyBytes: WEBHOOK_MAX_BODY_BYTES,
});
