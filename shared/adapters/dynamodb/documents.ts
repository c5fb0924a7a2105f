import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { KnowledgeDocument } from '../../domain/document.ts';
import type { DocumentRef, DocumentRepository } from '../../ports/repositories.ts';
import { conditionFailed, pickFields } from './items.ts';
import { encodeCursor, queryFrom } from './pagination.ts';

// Documents live in their tenant's partition: pk TENANT#<tenantId>, sk DOC#<botId>#<documentId>,
// so a bot's documents are one Query and another tenant's ids are simply not found. While a
// document awaits its upload it is also in the sparse index gsi1 (UPLOADS_PENDING / <deadline>#<id>)
// for the sweeper, and while it is processing (PROCESSING / <staleAt>#<id>), so one whose ingestion
// or indexing died is failed rather than left processing forever. The tenant record counts
// documents (documentCount) for the plan's limit.

const PENDING = 'UPLOADS_PENDING';
const PROCESSING = 'PROCESSING';
const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
const keyOf = (ref: DocumentRef) => ({
  pk: tenantPk(ref.tenantId),
  sk: `DOC#${ref.botId}#${ref.documentId}`,
});

const FIELDS = [
  'id',
  'tenantId',
  'botId',
  'filename',
  'contentType',
  'type',
  'size',
  'status',
  'chunksTotal',
  'chunksIndexed',
  'error',
  'key',
  'uploadDeadline',
  'attemptId',
  'createdAt',
  'updatedAt',
  'requestId',
] as const;

const toDocument = (item: Record<string, unknown> | undefined): KnowledgeDocument | undefined =>
  item && pickFields<KnowledgeDocument>(item, FIELDS);

export function createDynamoDocumentRepository(
  db: DynamoDBDocumentClient,
  table: string,
): DocumentRepository {
  const ref = (d: KnowledgeDocument): DocumentRef => ({
    tenantId: d.tenantId,
    botId: d.botId,
    documentId: d.id,
  });

  /** Documents of one gsi1 partition whose time (the sort key's start) is before `now`. */
  async function listDue(partition: string, now: string, limit: number): Promise<KnowledgeDocument[]> {
    const result = await db.send(
      new QueryCommand({
        TableName: table,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :partition AND gsi1sk < :now',
        ExpressionAttributeValues: { ':partition': partition, ':now': now },
        Limit: limit,
      }),
    );
    return (result.Items ?? []).map((item) => toDocument(item) as KnowledgeDocument);
  }

  /** A conditional update that reports a failed condition as false. */
  async function update(
    target: DocumentRef,
    expression: string,
    condition: string,
    values: Record<string, unknown>,
    names?: Record<string, string>,
  ): Promise<boolean> {
    try {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: keyOf(target),
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeValues: values,
          ExpressionAttributeNames: names,
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw error;
    }
  }

  const repository: DocumentRepository = {
    async create(document, maxDocuments) {
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: table,
                  Key: { pk: tenantPk(document.tenantId), sk: 'TENANT' },
                  UpdateExpression: 'ADD documentCount :one',
                  ConditionExpression:
                    'attribute_exists(pk) AND (attribute_not_exists(documentCount) OR documentCount < :max)',
                  ExpressionAttributeValues: { ':one': 1, ':max': maxDocuments },
                },
              },
              {
                Put: {
                  TableName: table,
                  Item: {
                    ...keyOf(ref(document)),
                    gsi1pk: PENDING,
                    gsi1sk: `${document.uploadDeadline}#${document.id}`,
                    ...document,
                  },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return 'created';
      } catch (error) {
        if (conditionFailed(error)) return 'limit';
        throw error;
      }
    },

    async get(target) {
      const result = await db.send(
        new GetCommand({ TableName: table, Key: keyOf(target), ConsistentRead: true }),
      );
      return toDocument(result.Item);
    },

    async list(tenantId, botId, page) {
      const partition = tenantPk(tenantId);
      const result = await queryFrom(
        db,
        {
          TableName: table,
          KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':p': partition, ':prefix': `DOC#${botId}#` },
          Limit: page.limit,
        },
        page.cursor,
        { pk: partition },
        ['pk', 'sk'],
      );
      const last = result.LastEvaluatedKey;
      return {
        items: (result.Items ?? []).map((item) => toDocument(item) as KnowledgeDocument),
        nextCursor: encodeCursor(last && { pk: last.pk, sk: last.sk }),
      };
    },

    async listAll(tenantId, botId) {
      const all: KnowledgeDocument[] = [];
      let cursor: string | undefined;
      do {
        const page = await repository.list(tenantId, botId, { limit: 100, cursor });
        all.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return all;
    },

    async delete(target) {
      const existing = await repository.get(target);
      if (!existing) return undefined;
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: { TableName: table, Key: keyOf(target), ConditionExpression: 'attribute_exists(pk)' },
              },
              {
                Update: {
                  TableName: table,
                  Key: { pk: tenantPk(target.tenantId), sk: 'TENANT' },
                  UpdateExpression: 'ADD documentCount :minusOne',
                  ConditionExpression: 'attribute_exists(pk) AND documentCount > :zero',
                  ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0 },
                },
              },
            ],
          }),
        );
        return existing;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        // Deleted concurrently, or the tenant record is going (tenant deletion): delete the record
        // alone, and report it only if this call removed it.
        const { Attributes } = await db.send(
          new DeleteCommand({ TableName: table, Key: keyOf(target), ReturnValues: 'ALL_OLD' }),
        );
        return toDocument(Attributes);
      }
    },

    startProcessing(target, attempt) {
      return update(
        target,
        'SET #status = :processing, attemptId = :attempt, updatedAt = :at, gsi1pk = :stale, gsi1sk = :staleKey',
        'attribute_exists(pk) AND (#status = :awaiting OR (#status = :processing AND attemptId = :attempt))',
        {
          ':processing': 'processing',
          ':awaiting': 'awaiting_upload',
          ':attempt': attempt.id,
          ':at': attempt.at,
          ':stale': PROCESSING,
          ':staleKey': `${attempt.staleAt}#${target.documentId}`,
        },
        { '#status': 'status' },
      );
    },

    setChunksTotal(target, chunksTotal, attemptId, at) {
      return update(
        target,
        'SET chunksTotal = :total, updatedAt = :at',
        'attribute_exists(pk) AND #status = :processing AND attemptId = :attempt',
        { ':total': chunksTotal, ':processing': 'processing', ':attempt': attemptId, ':at': at },
        { '#status': 'status' },
      );
    },

    async countIndexedBatch(target, batch, chunks, at) {
      try {
        const result = await db.send(
          new UpdateCommand({
            TableName: table,
            Key: keyOf(target),
            UpdateExpression: 'ADD chunksIndexed :n, indexedBatches :batchSet SET updatedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND NOT contains(indexedBatches, :batch)',
            ExpressionAttributeValues: {
              ':n': chunks,
              ':batchSet': new Set([batch]),
              ':batch': batch,
              ':at': at,
            },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return { outcome: 'counted', document: toDocument(result.Attributes) as KnowledgeDocument };
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        const document = await repository.get(target);
        return document ? { outcome: 'already', document } : { outcome: 'missing' };
      }
    },

    markReady(target, at) {
      return update(
        target,
        'SET #status = :ready, updatedAt = :at REMOVE gsi1pk, gsi1sk',
        'attribute_exists(pk) AND #status = :processing AND chunksIndexed >= chunksTotal',
        { ':ready': 'ready', ':processing': 'processing', ':at': at },
        { '#status': 'status' },
      );
    },

    markFailed(target, reason, at) {
      return update(
        target,
        'SET #status = :failed, #error = :reason, updatedAt = :at REMOVE gsi1pk, gsi1sk',
        'attribute_exists(pk) AND #status IN (:awaiting, :processing)',
        {
          ':failed': 'failed',
          ':reason': reason,
          ':at': at,
          ':awaiting': 'awaiting_upload',
          ':processing': 'processing',
        },
        { '#status': 'status', '#error': 'error' },
      );
    },

    listExpiredUploads: (now, limit) => listDue(PENDING, now, limit),
    listStaleProcessing: (now, limit) => listDue(PROCESSING, now, limit),
  };
  return repository;
}
