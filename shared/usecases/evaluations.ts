import type { Bot } from '../domain/bot.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../domain/errors.ts';
import {
  EVALUATION_DEADLINE_SECONDS,
  EVALUATION_TTL_SECONDS,
  type EvaluateMessage,
  type EvaluationResult,
  type EvaluationRun,
  type EvaluationView,
  isStale,
  judgeQuestion,
  MAX_TEST_QUESTIONS_PER_BOT,
  STALE_REASON,
  scoreRun,
  type TestQuestion,
  type TestQuestionInput,
  type TestQuestionView,
  toEvaluationView,
  toTestQuestionView,
} from '../domain/evaluation.ts';
import { ID_PATTERN, newTimeOrderedId } from '../domain/ids.ts';
import { logger } from '../logging.ts';
import { epochSeconds } from '../ports/clock.ts';
import { EmbeddingError } from '../ports/embedder.ts';
import type { Page, PageRequest } from '../ports/repositories.ts';
import type { EvaluationDeps, RunEvaluationDeps, StartEvaluationDeps, TenantDeps } from './deps.ts';
import { getBot } from './lookups.ts';
import { retrieve } from './retrieve.ts';

// Test questions and evaluation runs (docs/ARCHITECTURE.md, "Evaluations"). The API starts a run
// (a record, the bot's run lock, a message on the evaluate queue) and answers 202; the evaluate
// function retrieves for every question as the bot would, through the one retrieval use-case,
// and writes the results once.

/** Questions retrieved for at once: each is an embedding call and an index query. */
const CONCURRENCY = 4;

const unknownDocument = () =>
  new BadRequestError('Unknown document', [
    { path: 'expectedDocumentId', message: 'is not a document of this bot' },
  ]);

/** The expected document must be one of this bot's (any status: one still processing is fine). */
async function checkDocument(deps: TenantDeps, bot: Bot, documentId: string): Promise<void> {
  if (!ID_PATTERN.test(documentId)) throw unknownDocument();
  const document = await deps.repos.documents.get({ tenantId: bot.tenantId, botId: bot.id, documentId });
  if (!document) throw unknownDocument();
}

const scopeOf = (bot: Pick<Bot, 'tenantId' | 'id'>) => ({ tenantId: bot.tenantId, botId: bot.id });

export async function createTestQuestion(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  input: TestQuestionInput,
): Promise<TestQuestionView> {
  const bot = await getBot(deps, tenantId, botId);
  await checkDocument(deps, bot, input.expectedDocumentId);
  const now = deps.clock.now();
  const question: TestQuestion = {
    id: newTimeOrderedId('tqn', now),
    tenantId,
    botId,
    question: input.question,
    expectedDocumentId: input.expectedDocumentId,
    ...(input.expectedPage !== undefined && { expectedPage: input.expectedPage }),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
  if ((await deps.testQuestions.create(question, MAX_TEST_QUESTIONS_PER_BOT)) === 'limit') {
    throw new ConflictError(
      `A bot has at most ${MAX_TEST_QUESTIONS_PER_BOT} test questions; delete some before adding more`,
    );
  }
  return toTestQuestionView(question);
}

export async function listTestQuestions(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  page: PageRequest,
): Promise<Page<TestQuestionView>> {
  const bot = await getBot(deps, tenantId, botId);
  const result = await deps.testQuestions.list(scopeOf(bot), page);
  return { items: result.items.map(toTestQuestionView), nextCursor: result.nextCursor };
}

/** Replaces a question's text and expected source (an expectedPage left out is removed). */
export async function updateTestQuestion(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  questionId: string,
  input: TestQuestionInput,
): Promise<TestQuestionView> {
  const bot = await getBot(deps, tenantId, botId);
  if (!(await deps.testQuestions.get(scopeOf(bot), questionId)))
    throw new NotFoundError('No such test question');
  await checkDocument(deps, bot, input.expectedDocumentId);
  const updated = await deps.testQuestions.update(scopeOf(bot), questionId, {
    question: input.question,
    expectedDocumentId: input.expectedDocumentId,
    expectedPage: input.expectedPage,
    updatedAt: deps.clock.now().toISOString(),
  });
  if (!updated) throw new NotFoundError('No such test question');
  return toTestQuestionView(updated);
}

export async function deleteTestQuestion(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  questionId: string,
): Promise<void> {
  const bot = await getBot(deps, tenantId, botId);
  if (!(await deps.testQuestions.delete(scopeOf(bot), questionId)))
    throw new NotFoundError('No such test question');
}

/**
 * Starts a run of the bot's test questions: 400 with none, 409 while another run of the bot is
 * running. The run is queued for the evaluate function; if queueing fails it is marked failed at
 * once (and the lock released), so nothing waits for a message that was never sent.
 */
export async function startEvaluation(
  deps: StartEvaluationDeps,
  tenantId: string,
  botId: string,
  requestId?: string,
): Promise<EvaluationView> {
  const bot = await getBot(deps, tenantId, botId);
  const questions = await deps.testQuestions.list(scopeOf(bot), { limit: MAX_TEST_QUESTIONS_PER_BOT });
  if (questions.items.length === 0)
    throw new BadRequestError('This bot has no test questions: add some before running an evaluation');
  const now = deps.clock.now();
  const run: EvaluationRun = {
    id: newTimeOrderedId('evl', now),
    tenantId,
    botId,
    status: 'running',
    createdAt: now.toISOString(),
    questionCount: questions.items.length,
    expiresAt: epochSeconds(now) + EVALUATION_TTL_SECONDS,
    ...(requestId && { requestId }),
  };
  const lockExpiresAt = epochSeconds(now) + EVALUATION_DEADLINE_SECONDS;
  if ((await deps.evaluations.start(run, lockExpiresAt, now)) === 'busy') {
    throw new ConflictError('An evaluation of this bot is already running; wait for it to finish');
  }
  try {
    await deps.evaluateQueue.send([
      { kind: 'run', tenantId, botId, evaluationId: run.id, ...(requestId && { requestId }) },
    ]);
  } catch (error) {
    await deps.evaluations.fail(run, 'The run could not be queued; start it again', now.toISOString());
    throw error;
  }
  return toEvaluationView(run, now);
}

export async function getEvaluation(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  evaluationId: string,
): Promise<EvaluationView> {
  const bot = await getBot(deps, tenantId, botId);
  const now = deps.clock.now();
  const run = await deps.evaluations.get(scopeOf(bot), evaluationId, now);
  if (!run) throw new NotFoundError('No such evaluation');
  const results = run.status === 'done' ? await deps.evaluations.results(run) : undefined;
  return toEvaluationView(run, now, results);
}

/** Newest first, without their per-question results (one run's GET has them). */
export async function listEvaluations(
  deps: EvaluationDeps,
  tenantId: string,
  botId: string,
  page: PageRequest,
): Promise<Page<EvaluationView>> {
  const bot = await getBot(deps, tenantId, botId);
  const now = deps.clock.now();
  const result = await deps.evaluations.list(scopeOf(bot), page, now);
  return { items: result.items.map((run) => toEvaluationView(run, now)), nextCursor: result.nextCursor };
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export type RunOutcome = 'done' | 'failed' | 'skipped';

/**
 * Runs one queued evaluation (the evaluate function). Idempotent: a run that is gone (its bot
 * deleted) or no longer running (a redelivered message) is skipped. Transient failures throw,
 * leaving the message to the queue: its redelivery comes after the run's deadline
 * (EVALUATION_DEADLINE_SECONDS) and marks it failed; on the last delivery before the dead-letter
 * queue the run is marked failed with the reason at once, as is a refusal of the embedding
 * service, which retrying cannot change.
 */
export async function runEvaluation(
  deps: RunEvaluationDeps,
  message: EvaluateMessage,
  finalAttempt: boolean,
): Promise<RunOutcome> {
  const scope = { tenantId: message.tenantId, botId: message.botId };
  const now = deps.clock.now();
  const run = await deps.evaluations.get(scope, message.evaluationId, now);
  if (run?.status !== 'running') {
    logger.info('evaluation not running; message dropped', { status: run?.status ?? 'gone' });
    return 'skipped';
  }
  const fail = async (reason: string) => {
    await deps.evaluations.fail(run, reason, deps.clock.now().toISOString());
    logger.warn('evaluation failed', { reason });
    return 'failed' as const;
  };
  if (isStale(run, now)) return fail(STALE_REASON);
  const bot = await deps.repos.bots.get(scope.tenantId, scope.botId);
  if (!bot) return 'skipped'; // being deleted: the cascade removes the run
  const questions = await deps.testQuestions.listAll(scope);
  if (questions.length === 0) return fail('The bot has no test questions any more');

  let results: EvaluationResult[];
  const usage = { embeddingTokens: 0, inputTokens: 0, outputTokens: 0 };
  try {
    const retrieval = await deps.retrieval();
    const topK = Math.max(5, bot.retrieval.topK);
    results = await mapLimited(questions, CONCURRENCY, async (question) => {
      const retrieved = await retrieve(retrieval, bot, question.question, [], { topK });
      usage.embeddingTokens += retrieved.usage.embeddingTokens;
      usage.inputTokens += retrieved.usage.inputTokens;
      usage.outputTokens += retrieved.usage.outputTokens;
      return judgeQuestion(question, retrieved.passages, bot.retrieval.topK);
    });
  } catch (error) {
    if (error instanceof EmbeddingError && !error.retryable) {
      logger.warn('evaluation: embedding refused', { error });
      return fail(`The embedding service refused a question (${error.message})`);
    }
    if (finalAttempt)
      await fail('The search index or the embedding service was unavailable; run the evaluation again');
    throw error;
  }

  // The tokens were spent whether or not this attempt is the one whose results are kept.
  const finishedAt = deps.clock.now();
  await deps.usage.add(scope.tenantId, scope.botId, finishedAt.toISOString().slice(0, 10), usage);
  const figures = scoreRun(results);
  const finished = await deps.evaluations.finish(run, {
    finishedAt: finishedAt.toISOString(),
    questionCount: results.length,
    ...figures,
    results,
  });
  logger.info(finished ? 'evaluation done' : 'evaluation already finished by another delivery', {
    questions: results.length,
    ...figures,
  });
  return finished ? 'done' : 'skipped';
}
