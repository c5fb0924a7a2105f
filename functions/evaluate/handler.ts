import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoEvaluationRepository } from '../../shared/adapters/dynamodb/evaluations.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { createDynamoTestQuestionRepository } from '../../shared/adapters/dynamodb/test-questions.ts';
import { createDynamoUsageRepository } from '../../shared/adapters/dynamodb/usage.ts';
import { EvaluateMessageSchema } from '../../shared/domain/evaluation.ts';
import { logger } from '../../shared/logging.ts';
import { once } from '../../shared/memo.ts';
import { queues } from '../../shared/resources.ts';
import { isFinalAttempt, sqsHandler } from '../../shared/sqs.ts';
import type { RunEvaluationDeps } from '../../shared/usecases/deps.ts';
import { runEvaluation } from '../../shared/usecases/evaluations.ts';
import { functionClock } from '../../shared/wiring/clock.ts';
import { readEnv, required } from '../../shared/wiring/env.ts';
import { createRetrievalDepsFromEnv } from '../../shared/wiring/knowledge.ts';

const deps = once((): RunEvaluationDeps => {
  const env = readEnv({ TENANTS_TABLE: required, USAGE_TABLE: required });
  const db = createDocumentClient();
  return {
    repos: createDynamoRepositories(db, env.TENANTS_TABLE),
    clock: functionClock,
    testQuestions: createDynamoTestQuestionRepository(db, env.TENANTS_TABLE),
    evaluations: createDynamoEvaluationRepository(db, env.USAGE_TABLE),
    usage: createDynamoUsageRepository(db, env.USAGE_TABLE),
    // Loaded on the first run: the offline model takes seconds.
    retrieval: once(createRetrievalDepsFromEnv),
  };
});

// One run per message (batch size 1). A malformed message fails every delivery and, retried to the
// limit, lands in the dead-letter queue.
export const handler = sqsHandler(EvaluateMessageSchema, async (message, record) => {
  logger.appendKeys({
    tenantId: message.tenantId,
    botId: message.botId,
    evaluationId: message.evaluationId,
    ...(message.requestId && { requestId: message.requestId }),
  });
  const outcome = await runEvaluation(
    deps(),
    message,
    isFinalAttempt(record, queues.evaluate.maxReceiveCount),
  );
  logger.debug('evaluation message handled', { outcome });
});
