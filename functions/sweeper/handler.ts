import { createDocumentClient } from '../../shared/adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../../shared/adapters/dynamodb/repositories.ts';
import { logger } from '../../shared/logging.ts';
import { once } from '../../shared/memo.ts';
import { recordMetrics } from '../../shared/metrics.ts';
import { sweepDocuments } from '../../shared/usecases/documents.ts';
import { functionClock } from '../../shared/wiring/clock.ts';
import { readEnv, required } from '../../shared/wiring/env.ts';

const deps = once(() => {
  const env = readEnv({ TENANTS_TABLE: required });
  return {
    repos: createDynamoRepositories(createDocumentClient(), env.TENANTS_TABLE),
    clock: functionClock,
    metrics: recordMetrics,
  };
});

/** Runs on a schedule: documents whose upload never arrived, or stuck processing, end `failed` with a reason. */
export const handler = async (): Promise<{ swept: number }> => {
  const swept = await sweepDocuments(deps());
  if (swept > 0)
    logger.info('documents whose upload never arrived or whose processing died marked failed', { swept });
  return { swept };
};
