import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDynamoChannelRepository } from '../../shared/adapters/dynamodb/channels.ts';
import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoEvaluationRepository } from '../../shared/adapters/dynamodb/evaluations.ts';
import { createDynamoReplyLedger } from '../../shared/adapters/dynamodb/reply-ledger.ts';
import { createDynamoSessionRepository } from '../../shared/adapters/dynamodb/sessions.ts';
import { createDynamoTestQuestionRepository } from '../../shared/adapters/dynamodb/test-questions.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { createOperatorKeySource } from '../../shared/adapters/operator-key.ts';
import { createSqsQueue } from '../../shared/adapters/sqs/queue.ts';
import type { EvaluateMessage } from '../../shared/domain/evaluation.ts';
import { httpHandler } from '../../shared/http/handler.ts';
import { buildOpenApi } from '../../shared/http/openapi.ts';
import { once } from '../../shared/memo.ts';
import { routes } from '../../shared/resources.ts';
import { traced } from '../../shared/tracing.ts';
import { createChannelClientsFromEnv, lazySecretBox } from '../../shared/wiring/channels.ts';
import { optional, readEnv, required } from '../../shared/wiring/env.ts';
import { createRetrievalDepsFromEnv } from '../../shared/wiring/knowledge.ts';
import { createKnowledgeDeps } from '../../shared/wiring/knowledge-deps.ts';
import { chatRoutes } from '../chat/routes.ts';
import { chatStreamDocs } from '../chat-stream/docs.ts';
import { uploadRoutes } from '../upload/routes.ts';
import { webhookRoutes } from '../webhooks/routes.ts';
import { type AdminDeps, adminRoutes } from './routes.ts';

/** Other functions' routes are only described here, never served: their deps are never asked for. */
const notForServing = (): never => {
  throw new Error('this route is served by another function');
};

// Built once per container, on its first request: validated environment, clients, repositories.
const deps = once((): AdminDeps => {
  const env = readEnv({
    TENANTS_TABLE: required,
    USAGE_TABLE: required,
    SESSIONS_TABLE: required,
    EVALUATE_QUEUE_URL: required,
    PARLEY_OPERATOR_KEY: optional,
    OPERATOR_KEY_SECRET_ARN: optional,
    PUBLIC_BASE_URL: optional,
  });
  const knowledge = createKnowledgeDeps();
  const db = createDocumentClient();
  return {
    ...knowledge,
    usage: createDynamoUsageRepository(db, env.USAGE_TABLE),
    channels: createDynamoChannelRepository(db, env.TENANTS_TABLE),
    replyLedger: createDynamoReplyLedger(db, env.USAGE_TABLE),
    publicBaseUrl: env.PUBLIC_BASE_URL,
    secretBox: lazySecretBox(),
    clients: createChannelClientsFromEnv(),
    sessions: createDynamoSessionRepository(db, env.SESSIONS_TABLE),
    testQuestions: createDynamoTestQuestionRepository(db, env.TENANTS_TABLE),
    evaluations: createDynamoEvaluationRepository(db, env.USAGE_TABLE),
    evaluateQueue: createSqsQueue<EvaluateMessage>(traced(new SQSClient({})), env.EVALUATE_QUEUE_URL),
    keys: knowledge.repos.keys,
    operatorKey: createOperatorKeySource(env),
    // The embedder and index load on the first search only: the offline model takes seconds.
    retrieval: once(createRetrievalDepsFromEnv),
    healthChecks: [
      {
        name: 'dynamodb',
        run: async () => {
          await db.send(
            new GetCommand({ TableName: env.TENANTS_TABLE, Key: { pk: 'HEALTH', sk: 'HEALTH' } }),
          );
        },
      },
    ],
    // The whole API, including the routes other functions serve (their specs only describe them).
    openApi: once(() =>
      buildOpenApi(
        routes,
        {
          ...uploadRoutes(() => knowledge),
          ...chatRoutes(notForServing),
          ...chatStreamDocs,
          ...webhookRoutes(notForServing),
          ...specs,
        },
        '1',
      ),
    ),
  };
});

const specs = adminRoutes(deps);

export const handler = httpHandler(specs, deps);
