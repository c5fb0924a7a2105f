import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { EvaluationResult, EvaluationRun } from '../../domain/evaluation.ts';
import { randomBase62 } from '../../domain/ids.ts';
import { epochSeconds } from '../../ports/clock.ts';
import type { BotScope, EvaluationRepository } from '../../ports/evaluations.ts';
import { deletePartition, getKeys, putItems } from './batch.ts';
import { conditionFailed, pickFields } from './items.ts';
import { encodeCursor, queryFrom } from './pagination.ts';

// Evaluation runs live in the usage table, one partition per bot, pk EVAL#<tenantId>#<botId>:
//   sk RUN#<evaluationId>        the run (ids sort by creation time: a reverse Query lists newest first)
//   sk RES#<evaluationId>#<attempt>#<nnnn>  its results, in parts of at most ~300 KB (200 questions
//                                of 2,000 characters with their sources would pass DynamoDB's 400 KB
//                                item limit), under the attempt that wrote them: the run names the one
//                                attempt that marked it done, so two deliveries racing (a visibility
//                                timeout passed mid-run) never mix their parts; a losing attempt's
//                                parts are never read and expire with the run
//   sk LOCK                      the bot's running run: taken when a run starts, released when it ends,
//                                lapsing at the run's deadline (expiresAt)
// Everything carries `expiresAt` (epoch seconds) for the TTL; readers treat expired items as absent.

const partition = (scope: BotScope) => `EVAL#${scope.tenantId}#${scope.botId}`;
const runKey = (scope: BotScope, id: string) => ({ pk: partition(scope), sk: `RUN#${id}` });
const partKey = (scope: BotScope, id: string, attempt: string, part: number) => ({
  pk: partition(scope),
  sk: `RES#${id}#${attempt}#${String(part).padStart(4, '0')}`,
});
const lockKey = (scope: BotScope) => ({ pk: partition(scope), sk: 'LOCK' });

/** Bytes of results one part holds at most (as JSON: about their stored size). */
const PART_BYTES = 300_000;

const FIELDS = [
  'id',
  'tenantId',
  'botId',
  'status',
  'createdAt',
  'finishedAt',
  'error',
  'questionCount',
  'recallAt5',
  'mrr',
  'expiresAt',
  'resultSet',
  'resultParts',
  'requestId',
] as const;

const toRun = (item: Record<string, unknown> | undefined): EvaluationRun | undefined =>
  item && pickFields<EvaluationRun>(item, FIELDS);

/** Results in consecutive parts, each under PART_BYTES (a part holds at least one result). */
export function splitResults(
  results: readonly EvaluationResult[],
  maxBytes = PART_BYTES,
): EvaluationResult[][] {
  const parts: EvaluationResult[][] = [];
  let current: EvaluationResult[] = [];
  let bytes = 0;
  for (const result of results) {
    const size = Buffer.byteLength(JSON.stringify(result));
    if (current.length > 0 && bytes + size > maxBytes) {
      parts.push(current);
      current = [];
      bytes = 0;
    }
    current.push(result);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}

export function createDynamoEvaluationRepository(
  db: DynamoDBDocumentClient,
  table: string,
): EvaluationRepository {
  /** Releases the bot's lock if this run still holds it. */
  async function release(scope: BotScope, evaluationId: string): Promise<void> {
    try {
      await db.send(
        new DeleteCommand({
          TableName: table,
          Key: lockKey(scope),
          ConditionExpression: 'evaluationId = :id',
          ExpressionAttributeValues: { ':id': evaluationId },
        }),
      );
    } catch (error) {
      if (!conditionFailed(error)) throw error;
    }
  }

  return {
    async start(run, lockExpiresAt, now) {
      const scope = { tenantId: run.tenantId, botId: run.botId };
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: table,
                  Item: { ...lockKey(scope), evaluationId: run.id, expiresAt: lockExpiresAt },
                  // A lock past its run's deadline is free: that run will never finish.
                  ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now',
                  ExpressionAttributeValues: { ':now': epochSeconds(now) },
                },
              },
              {
                Put: {
                  TableName: table,
                  Item: { ...runKey(scope, run.id), ...run },
                  ConditionExpression: 'attribute_not_exists(pk)',
                },
              },
            ],
          }),
        );
        return 'started';
      } catch (error) {
        if (conditionFailed(error)) return 'busy';
        throw error;
      }
    },

    async get(scope, evaluationId, now) {
      const { Item } = await db.send(
        new GetCommand({ TableName: table, Key: runKey(scope, evaluationId), ConsistentRead: true }),
      );
      if (!Item || (Item.expiresAt as number) <= epochSeconds(now)) return undefined;
      return toRun(Item);
    },

    async results(run) {
      const scope = { tenantId: run.tenantId, botId: run.botId };
      const parts = run.resultParts ?? 0;
      const attempt = run.resultSet;
      if (parts === 0 || attempt === undefined) return [];
      const items = await getKeys(
        db,
        table,
        Array.from({ length: parts }, (_, part) => partKey(scope, run.id, attempt, part)),
        { consistent: true },
      );
      return items
        .sort((a, b) => String(a.sk).localeCompare(String(b.sk)))
        .flatMap((item) => (item.results as EvaluationResult[] | undefined) ?? []);
    },

    async list(scope, page, now) {
      const pk = partition(scope);
      const result = await queryFrom(
        db,
        {
          TableName: table,
          KeyConditionExpression: 'pk = :p AND begins_with(sk, :run)',
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: { ':p': pk, ':run': 'RUN#', ':now': epochSeconds(now) },
          ScanIndexForward: false,
          ConsistentRead: true,
          Limit: page.limit,
        },
        page.cursor,
        { pk },
        ['pk', 'sk'],
      );
      const last = result.LastEvaluatedKey;
      return {
        items: (result.Items ?? []).map((item) => toRun(item) as EvaluationRun),
        nextCursor: encodeCursor(last && { pk: last.pk, sk: last.sk }),
      };
    },

    async finish(run, outcome) {
      const scope = { tenantId: run.tenantId, botId: run.botId };
      const parts = splitResults(outcome.results);
      const attempt = randomBase62(8);
      // The parts first, under this attempt, then the run that names them, so a reader never sees
      // a done run without its results.
      await putItems(
        db,
        table,
        parts.map((results, part) => ({
          ...partKey(scope, run.id, attempt, part),
          results,
          expiresAt: run.expiresAt,
        })),
      );
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: runKey(scope, run.id),
            UpdateExpression:
              'SET #status = :done, finishedAt = :at, questionCount = :count, recallAt5 = :recall, mrr = :mrr, resultSet = :set, resultParts = :parts',
            ConditionExpression: 'attribute_exists(pk) AND #status = :running',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':done': 'done',
              ':running': 'running',
              ':at': outcome.finishedAt,
              ':count': outcome.questionCount,
              ':recall': outcome.recallAt5,
              ':mrr': outcome.mrr,
              ':set': attempt,
              ':parts': parts.length,
            },
          }),
        );
      } catch (error) {
        if (conditionFailed(error)) return false;
        throw error;
      }
      await release(scope, run.id);
      return true;
    },

    async fail(run, reason, at) {
      const scope = { tenantId: run.tenantId, botId: run.botId };
      try {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: runKey(scope, run.id),
            UpdateExpression: 'SET #status = :failed, #error = :reason, finishedAt = :at',
            ConditionExpression: 'attribute_exists(pk) AND #status = :running',
            ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
            ExpressionAttributeValues: {
              ':failed': 'failed',
              ':running': 'running',
              ':reason': reason,
              ':at': at,
            },
          }),
        );
      } catch (error) {
        if (conditionFailed(error)) return false;
        throw error;
      }
      await release(scope, run.id);
      return true;
    },

    deleteAllOfBot: (scope) => deletePartition(db, table, partition(scope)),
  };
}
