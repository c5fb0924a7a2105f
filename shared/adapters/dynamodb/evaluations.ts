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
import { conditionally, pickFields, type TableContext } from './items.ts';
import { pageByPrefix } from './pagination.ts';

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
  const context: TableContext = { db, table };
  return {
    start: (run, lockExpiresAt, now) => startRun(context, run, lockExpiresAt, now),

    async get(scope, evaluationId, now) {
      const { Item } = await db.send(
        new GetCommand({ TableName: table, Key: runKey(scope, evaluationId), ConsistentRead: true }),
      );
      if (!Item || (Item.expiresAt as number) <= epochSeconds(now)) return undefined;
      return toRun(Item);
    },

    results: (run) => readResults(context, run),

    list: (scope, page, now) =>
      pageByPrefix(context, partition(scope), 'RUN#', page, (item) => toRun(item) as EvaluationRun, {
        consistent: true,
        newestFirst: true,
        filter: { expression: 'expiresAt > :now', values: { ':now': epochSeconds(now) } },
      }),

    finish: (run, outcome) => finishRun(context, run, outcome),

    fail: (run, reason, at) =>
      endRun(
        context,
        run,
        'SET #status = :failed, #error = :reason, finishedAt = :at',
        { '#error': 'error' },
        { ':failed': 'failed', ':reason': reason, ':at': at },
      ),

    deleteAllOfBot: (scope) => deletePartition(db, table, partition(scope)),
  };
}

/** A run's identity: what ending it needs. */
type RunRef = Pick<EvaluationRun, 'id' | 'tenantId' | 'botId'>;

const scopeOf = (run: RunRef): BotScope => ({ tenantId: run.tenantId, botId: run.botId });

/** Takes the bot's lock and stores the run together: 'busy' while another run holds the lock. */
async function startRun(
  { db, table }: TableContext,
  run: EvaluationRun,
  lockExpiresAt: number,
  now: Date,
): Promise<'started' | 'busy'> {
  const scope = scopeOf(run);
  const started = await conditionally(
    db.send(
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
    ),
  );
  return started ? 'started' : 'busy';
}

/** The results of the attempt that finished the run, in order. */
async function readResults({ db, table }: TableContext, run: EvaluationRun): Promise<EvaluationResult[]> {
  const parts = run.resultParts ?? 0;
  const attempt = run.resultSet;
  if (parts === 0 || attempt === undefined) return [];
  const items = await getKeys(
    db,
    table,
    Array.from({ length: parts }, (_, part) => partKey(scopeOf(run), run.id, attempt, part)),
    { consistent: true },
  );
  return items
    .sort((a, b) => String(a.sk).localeCompare(String(b.sk)))
    .flatMap((item) => (item.results as EvaluationResult[] | undefined) ?? []);
}

async function finishRun(
  context: TableContext,
  run: EvaluationRun,
  outcome: Parameters<EvaluationRepository['finish']>[1],
): Promise<boolean> {
  const parts = splitResults(outcome.results);
  const attempt = randomBase62(8);
  // The parts first, under this attempt, then the run that names them, so a reader never sees
  // a done run without its results.
  await putItems(
    context.db,
    context.table,
    parts.map((results, part) => ({
      ...partKey(scopeOf(run), run.id, attempt, part),
      results,
      expiresAt: run.expiresAt,
    })),
  );
  return endRun(
    context,
    run,
    'SET #status = :done, finishedAt = :at, questionCount = :count, recallAt5 = :recall, mrr = :mrr, resultSet = :set, resultParts = :parts',
    {},
    {
      ':done': 'done',
      ':at': outcome.finishedAt,
      ':count': outcome.questionCount,
      ':recall': outcome.recallAt5,
      ':mrr': outcome.mrr,
      ':set': attempt,
      ':parts': parts.length,
    },
  );
}

/**
 * Ends a running run with `expression` (`#status` names its status) and releases the bot's lock;
 * false if the run was not running.
 */
async function endRun(
  context: TableContext,
  run: RunRef,
  expression: string,
  names: Record<string, string>,
  values: Record<string, unknown>,
): Promise<boolean> {
  const ended = await conditionally(
    context.db.send(
      new UpdateCommand({
        TableName: context.table,
        Key: runKey(scopeOf(run), run.id),
        UpdateExpression: expression,
        ConditionExpression: 'attribute_exists(pk) AND #status = :running',
        ExpressionAttributeNames: { '#status': 'status', ...names },
        ExpressionAttributeValues: { ':running': 'running', ...values },
      }),
    ),
  );
  if (ended) await release(context, scopeOf(run), run.id);
  return ended;
}

/** Releases the bot's lock if this run still holds it. */
async function release({ db, table }: TableContext, scope: BotScope, evaluationId: string): Promise<void> {
  await conditionally(
    db.send(
      new DeleteCommand({
        TableName: table,
        Key: lockKey(scope),
        ConditionExpression: 'evaluationId = :id',
        ExpressionAttributeValues: { ':id': evaluationId },
      }),
    ),
  );
}
