import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../adapters/dynamodb/client.ts';
import { createDynamoQuotaStore } from '../adapters/dynamodb/limits.ts';
import { createDynamoRepositories } from '../adapters/dynamodb/repositories.ts';
import { createDynamoSessionRepository } from '../adapters/dynamodb/sessions.ts';
import { createDynamoTurnStore } from '../adapters/dynamodb/turns.ts';
import type { ChatFunctionDeps } from '../http/chat-caller.ts';
import { ORIGIN_SECRET_ENV } from '../http/edge.ts';
import { once } from '../memo.ts';
import { recordMetrics } from '../metrics.ts';
import type { Repositories } from '../ports/repositories.ts';
import type { ChatDeps } from '../usecases/deps.ts';
import { createTurnGuard } from '../usecases/turn-guard.ts';
import { createChatModelFactory } from './chat-models.ts';
import { functionClock } from './clock.ts';
import { optional, readEnv, required } from './env.ts';
import { createEventPublisherFromEnv } from './events.ts';
import { createRetrievalDepsFromEnv } from './knowledge.ts';

/**
 * The chat pipeline's dependencies from the environment (the chat functions, and the reply
 * function that runs it for messaging channels), with the repositories they are built on.
 */
export function createChatDeps(db: DynamoDBDocumentClient): ChatDeps & { repos: Repositories } {
  const env = readEnv({ TENANTS_TABLE: required, SESSIONS_TABLE: required, USAGE_TABLE: required });
  const repos = createDynamoRepositories(db, env.TENANTS_TABLE);
  return {
    repos,
    bots: repos.bots,
    sessions: createDynamoSessionRepository(db, env.SESSIONS_TABLE),
    clock: functionClock,
    retrieval: once(createRetrievalDepsFromEnv),
    model: createChatModelFactory(),
    metrics: recordMetrics,
    guard: createTurnGuard({
      clock: functionClock,
      turns: createDynamoTurnStore(db, { sessions: env.SESSIONS_TABLE, usage: env.USAGE_TABLE }),
      quotas: createDynamoQuotaStore(db, env.USAGE_TABLE),
      events: createEventPublisherFromEnv(),
      tenants: repos.tenants,
    }),
  };
}

/** What the chat functions (buffered and streamed) need, built once per container. */
export const chatFunctionDeps = once((): ChatFunctionDeps => {
  const chat = createChatDeps(createDocumentClient());
  const env = readEnv({ WEB_ORIGIN: optional, [ORIGIN_SECRET_ENV]: optional });
  return { ...chat, keys: chat.repos.keys, webOrigin: env.WEB_ORIGIN, originSecret: env[ORIGIN_SECRET_ENV] };
});
