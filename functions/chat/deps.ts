import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoQuotaStore, createDynamoRateLimiter } from '../../shared/adapters/dynamodb/limits.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { createLogEventPublisher } from '../../shared/adapters/events/log.ts';
import { createChatModelFactory } from '../../shared/config/chat-models.ts';
import { functionClock } from '../../shared/config/clock.ts';
import { readEnv, required } from '../../shared/config/env.ts';
import { createEmbedderFromEnv, createVectorIndexFromEnv } from '../../shared/config/knowledge.ts';
import { once } from '../../shared/memo.ts';
import { createTurnGuard } from '../../shared/usecases/turn-guard.ts';
import type { ChatFunctionDeps } from './routes.ts';

/** What the chat functions (buffered and streamed) need, built once per container. */
export const deps = once((): ChatFunctionDeps => {
  const env = readEnv({ TENANTS_TABLE: required, SESSIONS_TABLE: required, USAGE_TABLE: required });
  const db = createDocumentClient();
  const repos = createDynamoRepositories(db, env.TENANTS_TABLE);
  return {
    bots: repos.bots,
    keys: repos.keys,
    sessions: createDynamoSessionRepository(db, env.SESSIONS_TABLE),
    clock: functionClock,
    retrieval: once(async () => {
      const embedder = await createEmbedderFromEnv();
      return { embedder, index: await createVectorIndexFromEnv(embedder) };
    }),
    model: createChatModelFactory(),
    guard: createTurnGuard({
      clock: functionClock,
      rateLimiter: createDynamoRateLimiter(db, env.USAGE_TABLE),
      quotas: createDynamoQuotaStore(db, env.USAGE_TABLE),
      events: createLogEventPublisher(),
      usage: createDynamoUsageRepository(db, env.USAGE_TABLE),
      tenants: repos.tenants,
    }),
  };
});
