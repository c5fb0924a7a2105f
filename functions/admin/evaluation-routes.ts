import * as z from 'zod';
import {
  EvaluationSchema,
  MAX_TEST_QUESTIONS_PER_BOT,
  TestQuestionInputSchema,
  TestQuestionSchema,
} from '../../shared/domain/evaluation.ts';
import { PageQuerySchema, pageOf } from '../../shared/http/pagination.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable, tenantOf } from '../../shared/http/router.ts';
import type { StartEvaluationDeps } from '../../shared/usecases/deps.ts';
import {
  createTestQuestion,
  deleteTestQuestion,
  getEvaluation,
  listEvaluations,
  listTestQuestions,
  startEvaluation,
  updateTestQuestion,
} from '../../shared/usecases/evaluations.ts';

const QuestionResponse = z.object({ question: TestQuestionSchema });
const EvaluationResponse = z.object({ evaluation: EvaluationSchema });

/** A bot's test questions and evaluation runs (tenant key). */
export function evaluationRoutes(deps: () => StartEvaluationDeps): RouteTable {
  return { ...testQuestionRoutes(deps), ...runRoutes(deps) };
}

function testQuestionRoutes(deps: () => StartEvaluationDeps): RouteTable {
  return {
    'POST /admin/bots/{botId}/test-questions': defineRoute({
      summary: 'Add a test question: a question and the document (and page) that should answer it',
      body: TestQuestionInputSchema,
      responses: {
        201: { description: 'Created', schema: QuestionResponse },
        400: { description: 'Invalid, or the document is not one of this bot’s (`expectedDocumentId`)' },
        409: {
          description: `The bot has ${MAX_TEST_QUESTIONS_PER_BOT} test questions, the most it may have`,
        },
      },
      run: async ({ principal, params, body }) =>
        json(201, {
          question: await createTestQuestion(deps(), tenantOf(principal), params.botId ?? '', body),
        }),
    }),
    'GET /admin/bots/{botId}/test-questions': defineRoute({
      summary: "List a bot's test questions, oldest first",
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of test questions', schema: pageOf(TestQuestionSchema) } },
      run: async ({ principal, params, query }) =>
        json(200, await listTestQuestions(deps(), tenantOf(principal), params.botId ?? '', query)),
    }),
    'PUT /admin/bots/{botId}/test-questions/{questionId}': defineRoute({
      summary: 'Replace a test question (an expectedPage left out is removed)',
      body: TestQuestionInputSchema,
      responses: {
        200: { description: 'Updated', schema: QuestionResponse },
        400: { description: 'Invalid, or the document is not one of this bot’s (`expectedDocumentId`)' },
      },
      run: async ({ principal, params, body }) =>
        json(200, {
          question: await updateTestQuestion(
            deps(),
            tenantOf(principal),
            params.botId ?? '',
            params.questionId ?? '',
            body,
          ),
        }),
    }),
    'DELETE /admin/bots/{botId}/test-questions/{questionId}': defineRoute({
      summary: 'Delete a test question (runs that used it keep their results)',
      responses: { 204: { description: 'Deleted' } },
      run: async ({ principal, params }) => {
        await deleteTestQuestion(deps(), tenantOf(principal), params.botId ?? '', params.questionId ?? '');
        return noContent();
      },
    }),
  };
}

function runRoutes(deps: () => StartEvaluationDeps): RouteTable {
  return {
    'POST /admin/bots/{botId}/evaluations': defineRoute({
      summary:
        'Run the bot’s test questions through its retrieval (no model calls); poll the run until it is done',
      responses: {
        202: { description: 'Started: status `running`', schema: EvaluationResponse },
        400: { description: 'The bot has no test questions' },
        409: { description: 'An evaluation of this bot is already running' },
      },
      run: async ({ principal, params, event }) =>
        json(202, {
          evaluation: await startEvaluation(
            deps(),
            tenantOf(principal),
            params.botId ?? '',
            event.requestContext?.requestId,
          ),
        }),
    }),
    'GET /admin/bots/{botId}/evaluations': defineRoute({
      summary: "List a bot's evaluation runs, newest first, with their figures (kept 90 days)",
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of runs', schema: pageOf(EvaluationSchema) } },
      run: async ({ principal, params, query }) =>
        json(200, await listEvaluations(deps(), tenantOf(principal), params.botId ?? '', query)),
    }),
    'GET /admin/bots/{botId}/evaluations/{evaluationId}': defineRoute({
      summary:
        'One evaluation run: its status, recall@5 and MRR, and per question where the expected source came',
      responses: { 200: { description: 'The run', schema: EvaluationResponse } },
      run: async ({ principal, params }) =>
        json(200, {
          evaluation: await getEvaluation(
            deps(),
            tenantOf(principal),
            params.botId ?? '',
            params.evaluationId ?? '',
          ),
        }),
    }),
  };
}
