import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TestQuestion } from '../../domain/evaluation.ts';
import type { BotScope, TestQuestionRepository } from '../../ports/evaluations.ts';
import { deletePartition } from './batch.ts';
import { conditionFailed, pickFields } from './items.ts';
import { encodeCursor, queryFrom } from './pagination.ts';

// Test questions live in their tenant's partition of the tenants table: pk TENANT#<tenantId>,
// sk TQ#<botId>#<questionId> (question ids sort by creation time, so a Query lists them oldest
// first). The bot's counter, sk TQ#<botId> (outside the questions' prefix), holds how many it
// has, checked against the cap in the transaction that adds one.

const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
const counterKey = (scope: BotScope) => ({ pk: tenantPk(scope.tenantId), sk: `TQ#${scope.botId}` });
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
  const repository: TestQuestionRepository = {
    async create(question, max) {
      const scope = { tenantId: question.tenantId, botId: question.botId };
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Update: {
                  TableName: table,
                  Key: counterKey(scope),
                  UpdateExpression: 'ADD questionCount :one',
                  ConditionExpression: 'attribute_not_exists(questionCount) OR questionCount < :max',
                  ExpressionAttributeValues: { ':one': 1, ':max': max },
                },
              },
              {
                Put: {
                  TableName: table,
                  Item: { ...keyOf(scope, question.id), ...question },
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

    async get(scope, questionId) {
      const { Item } = await db.send(
        new GetCommand({ TableName: table, Key: keyOf(scope, questionId), ConsistentRead: true }),
      );
      return toQuestion(Item);
    },

    async list(scope, page) {
      const partition = tenantPk(scope.tenantId);
      const result = await queryFrom(
        db,
        {
          TableName: table,
          KeyConditionExpression: 'pk = :p AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':p': partition, ':prefix': questionPrefix(scope.botId) },
          ConsistentRead: true,
          Limit: page.limit,
        },
        page.cursor,
        { pk: partition },
        ['pk', 'sk'],
      );
      const last = result.LastEvaluatedKey;
      return {
        items: (result.Items ?? []).map((item) => toQuestion(item) as TestQuestion),
        nextCursor: encodeCursor(last && { pk: last.pk, sk: last.sk }),
      };
    },

    async listAll(scope) {
      const all: TestQuestion[] = [];
      let cursor: string | undefined;
      do {
        const page = await repository.list(scope, { limit: 100, cursor });
        all.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return all;
    },

    async update(scope, questionId, change) {
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
    },

    async delete(scope, questionId) {
      try {
        await db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Delete: {
                  TableName: table,
                  Key: keyOf(scope, questionId),
                  ConditionExpression: 'attribute_exists(pk)',
                },
              },
              {
                Update: {
                  TableName: table,
                  Key: counterKey(scope),
                  UpdateExpression: 'ADD questionCount :minusOne',
                  ConditionExpression: 'questionCount > :zero',
                  ExpressionAttributeValues: { ':minusOne': -1, ':zero': 0 },
                },
              },
            ],
          }),
        );
        return true;
      } catch (error) {
        if (!conditionFailed(error)) throw error;
        // Missing, or deleted concurrently, or the counter is gone (the bot's cascade): delete the
        // question alone and report it only if this call removed it.
        const { Attributes } = await db.send(
          new DeleteCommand({ TableName: table, Key: keyOf(scope, questionId), ReturnValues: 'ALL_OLD' }),
        );
        return Attributes !== undefined;
      }
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
