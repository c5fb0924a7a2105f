import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { KnowledgeDocument } from '../../domain/document.ts';
import type { DocumentRef, DocumentRepository } from '../../ports/repositories.ts';
import { type Counter, deleteCounted, putCounted } from './counted.ts';
import { conditionally, conditionFailed, pickFields, type TableContext } from './items.ts';
import { allPages, pageByPrefix } from './pagination.ts';

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

const refOf = (d: KnowledgeDocument): DocumentRef => ({
  tenantId: d.tenantId,
  botId: d.botId,
  documentId: d.id,
});

/** The tenant record's count of documents, checked against the plan's limit. */
const documentCounter = (tenantId: string): Counter => ({
  key: { pk: tenantPk(tenantId), sk: 'TENANT' },
  attribute: 'documentCount',
  ownerMustExist: true,
});

export function createDynamoDocumentRepository(
  db: DynamoDBDocumentClient,
  table: string,
): DocumentRepository {
  const context: TableContext = { db, table };
  const repository: DocumentRepository = {
    create: (document, maxDocuments) =>
      putCounted(
        context,
        {
          ...keyOf(refOf(document)),
          gsi1pk: PENDING,
          gsi1sk: `${document.uploadDeadline}#${document.id}`,
          ...document,
        },
        documentCounter(document.tenantId),
        maxDocuments,
      ),
    get: (target) => getDocument(context, target),
    list: (tenantId, botId, page) =>
      pageByPrefix(
        context,
        tenantPk(tenantId),
        `DOC#${botId}#`,
        page,
        (item) => toDocument(item) as KnowledgeDocument,
      ),
    listAll: (tenantId, botId) => allPages((page) => repository.list(tenantId, botId, page)),
    delete: (target) => deleteDocument(context, target),
    startProcessing: (target, attempt) => startProcessing(context, target, attempt),
    setChunksTotal: (target, chunksTotal, attemptId, at) =>
      update(
        context,
        target,
        'SET chunksTotal = :total, updatedAt = :at',
        'attribute_exists(pk) AND #status = :processing AND attemptId = :attempt',
        { ':total': chunksTotal, ':processing': 'processing', ':attempt': attemptId, ':at': at },
      ),
    countIndexedBatch: (target, batch, chunks, at) => countIndexedBatch(context, target, batch, chunks, at),
    markReady: (target, at) =>
      update(
        context,
        target,
        'SET #status = :ready, updatedAt = :at REMOVE gsi1pk, gsi1sk',
        'attribute_exists(pk) AND #status = :processing AND chunksIndexed >= chunksTotal',
        { ':ready': 'ready', ':processing': 'processing', ':at': at },
      ),
    markFailed: (target, reason, at) =>
      update(
        context,
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
      ),
    listExpiredUploads: (now, limit) => listDue(context, PENDING, now, limit),
    listStaleProcessing: (now, limit) => listDue(context, PROCESSING, now, limit),
  };
  return repository;
}

async function getDocument({ db, table }: TableContext, target: DocumentRef) {
  const result = await db.send(
    new GetCommand({ TableName: table, Key: keyOf(target), ConsistentRead: true }),
  );
  return toDocument(result.Item);
}

async function deleteDocument(context: TableContext, target: DocumentRef) {
  const existing = await getDocument(context, target);
  if (!existing) return undefined;
  // When deleted concurrently, or the tenant record is going (tenant deletion), the record is
  // deleted alone and reported only if this call removed it.
  const { removed, old } = await deleteCounted(context, keyOf(target), documentCounter(target.tenantId));
  if (!removed) return undefined;
  return old ? toDocument(old) : existing;
}

/** A conditional update of a document that reports a failed condition as false. */
function update(
  { db, table }: TableContext,
  target: DocumentRef,
  expression: string,
  condition: string,
  values: Record<string, unknown>,
  names: Record<string, string> = { '#status': 'status' },
): Promise<boolean> {
  return conditionally(
    db.send(
      new UpdateCommand({
        TableName: table,
        Key: keyOf(target),
        UpdateExpression: expression,
        ConditionExpression: condition,
        ExpressionAttributeValues: values,
        ExpressionAttributeNames: names,
      }),
    ),
  );
}

/** Takes an awaiting document (or one this attempt already holds) into processing. */
function startProcessing(
  context: TableContext,
  target: DocumentRef,
  attempt: { id: string; at: string; staleAt: string },
): Promise<boolean> {
  return update(
    context,
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
  );
}

/** Counts a batch of indexed chunks once, however often its message is delivered. */
async function countIndexedBatch(
  context: TableContext,
  target: DocumentRef,
  batch: number,
  chunks: number,
  at: string,
): ReturnType<DocumentRepository['countIndexedBatch']> {
  try {
    const result = await context.db.send(
      new UpdateCommand({
        TableName: context.table,
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
    const document = await getDocument(context, target);
    return document ? { outcome: 'already', document } : { outcome: 'missing' };
  }
}

/** Documents of one gsi1 partition whose time (the sort key's start) is before `now`. */
async function listDue(
  { db, table }: TableContext,
  partition: string,
  now: string,
  limit: number,
): Promise<KnowledgeDocument[]> {
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
