import * as z from 'zod';
import { functions, queues } from '../resources.ts';
import type { Passage } from './passage.ts';

// Test questions and evaluation runs. A tenant saves questions for a bot, each naming the
// document (and optionally the page) that should answer it; a run retrieves for every question as
// the bot would and reports, per question, where the expected source came (rank in the top 5),
// whether it was retrieved (rank ≤ 5) and whether the bot would cite it (among the passages it
// hands its model), with recall@5 and MRR over the run.

/** Test questions a bot may have. */
export const MAX_TEST_QUESTIONS_PER_BOT = 200;
/** A question's length, in characters (as a chat message's). */
export const MAX_QUESTION_LENGTH = 2000;
/** Runs are kept this long (DESIGN.md §8: records with a TTL in the usage table). */
export const EVALUATION_TTL_SECONDS = 90 * 24 * 60 * 60;
/**
 * A run still `running` this long after it started will not finish: its invocation crashed or
 * timed out, or its message was lost. Readers show it failed, its lock lapses and another run may
 * start. It is the evaluate queue's visibility timeout less the evaluate function's timeout, so a
 * run ends before its message can be redelivered: an attempt that begins by the deadline has
 * ended (the function's timeout) before the message reappears (a visibility timeout after it was
 * received, which was after the run started). A redelivered message then finds the run past its
 * deadline and marks it failed; it never starts a second attempt. (25 minutes with the timeouts
 * of shared/resources.ts.)
 */
export const EVALUATION_DEADLINE_SECONDS =
  queues.evaluate.visibilityTimeoutSeconds - functions.evaluate.timeoutSeconds;
/** Recall and the reciprocal rank look at this many passages. */
export const EVALUATION_CUTOFF = 5;

export const EVALUATION_STATUSES = ['running', 'done', 'failed'] as const;
export type EvaluationStatus = (typeof EVALUATION_STATUSES)[number];

/** A test question as stored. */
export interface TestQuestion {
  id: string;
  tenantId: string;
  botId: string;
  question: string;
  expectedDocumentId: string;
  expectedPage?: number;
  createdAt: string;
  updatedAt: string;
}

export const TestQuestionInputSchema = z
  .strictObject({
    question: z.string().trim().min(1).max(MAX_QUESTION_LENGTH),
    expectedDocumentId: z.string().trim().min(1).max(100).describe('One of this bot’s documents'),
    expectedPage: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('The page that should answer it (PDFs); any page of the document when left out'),
  })
  .meta({ id: 'TestQuestionInput' });

export type TestQuestionInput = z.infer<typeof TestQuestionInputSchema>;

export const TestQuestionSchema = z
  .object({
    id: z.string(),
    question: z.string(),
    expectedDocumentId: z.string(),
    expectedPage: z.int().optional(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'TestQuestion' });

export type TestQuestionView = z.infer<typeof TestQuestionSchema>;

export const toTestQuestionView = (q: TestQuestion): TestQuestionView => ({
  id: q.id,
  question: q.question,
  expectedDocumentId: q.expectedDocumentId,
  ...(q.expectedPage !== undefined && { expectedPage: q.expectedPage }),
  createdAt: q.createdAt,
  updatedAt: q.updatedAt,
});

export const EvaluationSourceSchema = z.object({
  documentId: z.string(),
  filename: z.string(),
  page: z.int().optional(),
  heading: z.string().optional(),
  score: z.number(),
});
export type EvaluationSource = z.infer<typeof EvaluationSourceSchema>;

export const EvaluationResultSchema = z
  .object({
    questionId: z.string(),
    question: z.string(),
    expectedDocumentId: z.string(),
    expectedPage: z.int().optional(),
    rank: z
      .int()
      .min(1)
      .nullable()
      .describe(
        '1-based rank of the first passage from the expected document (and page, if set) among the top 5; null if none',
      ),
    retrieved: z.boolean().describe('rank ≤ 5'),
    cited: z
      .boolean()
      .describe(
        "Among the passages the bot would hand its model and cite: the first retrieval.topK after the bot's thresholds",
      ),
    topSources: z.array(EvaluationSourceSchema).describe('The top 5 passages’ sources, best first'),
  })
  .meta({ id: 'EvaluationResult' });
export type EvaluationResult = z.infer<typeof EvaluationResultSchema>;

/** A run as stored (its results are stored apart, in parts: see the adapter). */
export interface EvaluationRun {
  id: string;
  tenantId: string;
  botId: string;
  status: EvaluationStatus;
  createdAt: string;
  finishedAt?: string;
  error?: string;
  questionCount: number;
  recallAt5?: number;
  mrr?: number;
  /** Epoch seconds. */
  expiresAt: number;
  /** Where a done run's results are stored: the attempt that wrote them, and how many parts (the adapter's business). */
  resultSet?: string;
  resultParts?: number;
  /** The id of the API request that started it, carried into the evaluate function's logs. */
  requestId?: string;
}

export const EvaluationSchema = z
  .object({
    id: z.string(),
    status: z.enum(EVALUATION_STATUSES),
    createdAt: z.iso.datetime(),
    finishedAt: z.iso.datetime().optional(),
    error: z.string().optional().describe('Why the run failed'),
    questionCount: z.int(),
    recallAt5: z.number().optional().describe('Share of questions whose expected source is in the top 5'),
    mrr: z
      .number()
      .optional()
      .describe('Mean reciprocal rank (0 for a question whose source is not in the top 5)'),
    results: z.array(EvaluationResultSchema).optional().describe('Per question, when the run is done'),
  })
  .meta({ id: 'Evaluation' });
export type EvaluationView = z.infer<typeof EvaluationSchema>;

/**
 * The run as the API shows it at `now`: one still running past its deadline is shown failed
 * (it will never finish), without waiting for anything to write that.
 */
export function toEvaluationView(
  run: EvaluationRun,
  now: Date,
  results?: readonly EvaluationResult[],
): EvaluationView {
  const stale = isStale(run, now);
  return {
    id: run.id,
    status: stale ? 'failed' : run.status,
    createdAt: run.createdAt,
    ...(run.finishedAt !== undefined && { finishedAt: run.finishedAt }),
    ...(stale ? { error: STALE_REASON } : run.error !== undefined ? { error: run.error } : {}),
    questionCount: run.questionCount,
    ...(run.recallAt5 !== undefined && { recallAt5: run.recallAt5 }),
    ...(run.mrr !== undefined && { mrr: run.mrr }),
    ...(results && run.status === 'done' && { results: [...results] }),
  };
}

export const STALE_REASON = `The run did not finish within ${EVALUATION_DEADLINE_SECONDS / 60} minutes; start it again`;

/** A run marked running whose deadline has passed. */
export const isStale = (run: Pick<EvaluationRun, 'status' | 'createdAt'>, now: Date) =>
  run.status === 'running' && Date.parse(run.createdAt) + EVALUATION_DEADLINE_SECONDS * 1000 <= now.getTime();

/**
 * Judges one question against what was retrieved for it (best first, after the bot's
 * thresholds): `rank` looks at the top 5; `cited` at the first `citedTopK` (the bot's
 * retrieval.topK), which may be more or fewer than 5.
 */
export function judgeQuestion(
  question: Pick<TestQuestion, 'id' | 'question' | 'expectedDocumentId' | 'expectedPage'>,
  passages: readonly Pick<Passage, 'documentId' | 'filename' | 'page' | 'heading' | 'score'>[],
  citedTopK: number,
): EvaluationResult {
  const matches = (p: Pick<Passage, 'documentId' | 'page'>) =>
    p.documentId === question.expectedDocumentId &&
    (question.expectedPage === undefined || p.page === question.expectedPage);
  const first = passages.findIndex(matches);
  const rank = first >= 0 && first < EVALUATION_CUTOFF ? first + 1 : null;
  return {
    questionId: question.id,
    question: question.question,
    expectedDocumentId: question.expectedDocumentId,
    ...(question.expectedPage !== undefined && { expectedPage: question.expectedPage }),
    rank,
    retrieved: rank !== null,
    cited: first >= 0 && first < citedTopK,
    topSources: passages.slice(0, EVALUATION_CUTOFF).map((p) => ({
      documentId: p.documentId,
      filename: p.filename,
      ...(p.page !== undefined && { page: p.page }),
      ...(p.heading !== undefined && { heading: p.heading }),
      score: p.score,
    })),
  };
}

/** recall@5 and MRR (over the top 5) of a run's results; both 0 for no results. */
export function scoreRun(results: readonly Pick<EvaluationResult, 'rank'>[]): {
  recallAt5: number;
  mrr: number;
} {
  if (results.length === 0) return { recallAt5: 0, mrr: 0 };
  const found = results.filter((r) => r.rank !== null).length;
  const reciprocal = results.reduce((sum, r) => sum + (r.rank === null ? 0 : 1 / r.rank), 0);
  return { recallAt5: found / results.length, mrr: reciprocal / results.length };
}

/** The evaluate queue's message: run this evaluation. */
export const EvaluateMessageSchema = z.object({
  kind: z.literal('run'),
  tenantId: z.string().min(1),
  botId: z.string().min(1),
  evaluationId: z.string().min(1),
  requestId: z.string().max(200).optional(),
});
export type EvaluateMessage = z.infer<typeof EvaluateMessageSchema>;
