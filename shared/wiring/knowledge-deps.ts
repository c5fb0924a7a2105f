import { SQSClient } from '@aws-sdk/client-sqs';
import { createDocumentClient } from '../adapters/dynamodb/client.ts';
import { createDynamoRepositories } from '../adapters/dynamodb/repositories.ts';
import { createDynamoUsageRepository } from '../adapters/dynamodb/usage.ts';
import { createS3BlobStore, createS3Client } from '../adapters/s3/blob-store.ts';
import { createSqsQueue } from '../adapters/sqs/queue.ts';
import type { EmbedMessage } from '../ingestion/messages.ts';
import { recordMetrics } from '../metrics.ts';
import { traced } from '../tracing.ts';
import type { KnowledgeDeps } from '../usecases/deps.ts';
import type { IngestDeps } from '../usecases/ingest.ts';
import { functionClock } from './clock.ts';
import { readEnv, required } from './env.ts';

/** What ingestion needs besides: the month's token counters (usage table). */
export function createIngestDeps(): IngestDeps {
  const env = readEnv({ USAGE_TABLE: required });
  return {
    ...createKnowledgeDeps(),
    usage: createDynamoUsageRepository(createDocumentClient(), env.USAGE_TABLE),
  };
}

/** Repositories, the documents bucket and the embed queue: what document use-cases need. */
export function createKnowledgeDeps(): KnowledgeDeps {
  const env = readEnv({ TENANTS_TABLE: required, DOCUMENTS_BUCKET: required, EMBED_QUEUE_URL: required });
  return {
    repos: createDynamoRepositories(createDocumentClient(), env.TENANTS_TABLE),
    clock: functionClock,
    blobs: createS3BlobStore(createS3Client(), env.DOCUMENTS_BUCKET),
    embedQueue: createSqsQueue<EmbedMessage>(traced(new SQSClient({})), env.EMBED_QUEUE_URL),
    metrics: recordMetrics,
  };
}
