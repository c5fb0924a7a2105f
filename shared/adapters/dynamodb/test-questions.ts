import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TestQuestion } from '../../domain/evaluation.ts';
import type { BotScope, TestQuestionRepository } from '../../ports/evaluations.ts';
import { deletePartition } from './batch.ts';
import { type Counter, deleteCounted, putCounted } from './counted.ts';
import { conditionFailed, pickFields, type TableContext } from './items.ts';
import { allPages, pageByPrefix } from './pagination.ts';

// Test questions live in their tenant's partition of the tenants table: pk TENANT#<tenantId>,
// sk TQ#<botId>#<questionId> (question ids sort by creation time, so a Query lists them oldest
// first). The bot's counter, sk TQ#<botId> (outside the questions' prefix), holds how many it
// has, checked against the cap in the transaction that adds one.

const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
const counterKey = (scope: BotScope) => ({ pk: tenantPk(scope.tenantId), sk: `TQ#${scope.botId}` });
/** The bot's count of questions, made by its first question. */
const questionCounter = (scope: BotScope): Counter => ({
  key: counterKey(scope),
  attribute: 'questionCount',
  ownerMustExist: false,
});
const questionPrefix = (botId: string) => `TQ#${botId}#`;
const keyOf = (scope: BotScope, questionId: string) => ({
  pk: tenantPk(scope.tenantId),
  sk: `${questionPrefix(scope.botId)}${questionId}`,
});

const FIELDS = [
  'id',
  'tenantId',
  'botId',
  'question',
  'expectedDocumentId',
  'expectedPage',
  'createdAt',
  'updatedAt',
] as const;

const toQuestion = (item: Record<string, unknown> | undefined): TestQuestion | undefined =>
  item && pickFields<TestQuestion>(item, FIELDS);

export function createDynamoTestQuestionRepository(
  db: DynamoDBDocumentClient,
  table: string,
): TestQuestionRepository {
  const context: TableContext = { db, table };
  const repository: TestQuestionRepository = {
    create(question, max) {
      const scope = { tenantId: question.tenantId, botId: question.botId };
      return putCounted(context, { ...keyOf(scope, question.id), ...question }, questionCounter(scope), max);
    },

    async get(scope, questionId) {
      const { Item } = await db.send(
        new GetCommand({ TableName: table, Key: keyOf(scope, questionId), ConsistentRead: true }),
      );
      return toQuestion(Item);
    },

    list: (scope, page) =>
      pageByPrefix(
        context,
        tenantPk(scope.tenantId),
        questionPrefix(scope.botId),
        page,
        (item) => toQuestion(item) as TestQuestion,
        { consistent: true },
      ),

    listAll: (scope) => allPages((page) => repository.list(scope, page)),

    update: (scope, questionId, change) => updateQuestion(context, scope, questionId, change),

    async delete(scope, questionId) {
      // Missing, or deleted concurrently, or the counter is gone (the bot's cascade): the question
      // is deleted alone and reported only if this call removed it.
      const { removed } = await deleteCounted(context, keyOf(scope, questionId), questionCounter(scope));
      return removed;
    },

    async deleteAllOfBot(scope) {
      const deleted = await deletePartition(db, table, tenantPk(scope.tenantId), questionPrefix(scope.botId));
      // The counter last: questions added meanwhile (by a request that read the bot before its
      // deletion) would otherwise count against nothing.
      const { Attributes } = await db.send(
        new DeleteCommand({ TableName: table, Key: counterKey(scope), ReturnValues: 'ALL_OLD' }),
      );
      return deleted + (Attributes ? 1 : 0);
    },
  };
  return repository;
}

async function updateQuestion(
  { db, table }: TableContext,
  scope: BotScope,
  questionId: string,
  change: Pick<TestQuestion, 'question' | 'expectedDocumentId' | 'expectedPage' | 'updatedAt'>,
): Promise<TestQuestion | undefined> {
  const set = ['question = :question', 'expectedDocumentId = :document', 'updatedAt = :at'];
  const values: Record<string, unknown> = {
    ':question': change.question,
    ':document': change.expectedDocumentId,
    ':at': change.updatedAt,
  };
  if (change.expectedPage !== undefined) {
    set.push('expectedPage = :page');
    values[':page'] = change.expectedPage;
  }
  try {
    const { Attributes } = await db.send(
      new UpdateCommand({
        TableName: table,
        Key: keyOf(scope, questionId),
        UpdateExpression: `SET ${set.join(', ')}${change.expectedPage === undefined ? ' REMOVE expectedPage' : ''}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toQuestion(Attributes);
  } catch (error) {
    if (conditionFailed(error)) return undefined;
    throw error;
  }
}
