import type { EvaluationResult, EvaluationRun, TestQuestion } from '../domain/evaluation.ts';
import type { Page, PageRequest } from './repositories.ts';

// Test questions (tenants table, the tenant's partition) and evaluation runs (usage table, with a
// TTL). Every method takes the tenant and the bot: nothing reads across either.

export interface BotScope {
  readonly tenantId: string;
  readonly botId: string;
}

export interface TestQuestionRepository {
  /** Creates the question unless the bot already has `max` (counted atomically). */
  create(question: TestQuestion, max: number): Promise<'created' | 'limit'>;
  get(scope: BotScope, questionId: string): Promise<TestQuestion | undefined>;
  /** Oldest first. */
  list(scope: BotScope, page: PageRequest): Promise<Page<TestQuestion>>;
  /** Every question of the bot (at most the cap), oldest first. */
  listAll(scope: BotScope): Promise<TestQuestion[]>;
  /** Replaces the question's text and expected source; the updated question, or undefined if missing. */
  update(
    scope: BotScope,
    questionId: string,
    change: Pick<TestQuestion, 'question' | 'expectedDocumentId' | 'expectedPage' | 'updatedAt'>,
  ): Promise<TestQuestion | undefined>;
  /** False if there was no such question. */
  delete(scope: BotScope, questionId: string): Promise<boolean>;
  /** Every question of the bot and its counter (the deletion cascade); how many items went. */
  deleteAllOfBot(scope: BotScope): Promise<number>;
}

export interface EvaluationRepository {
  /**
   * Creates a running run and takes the bot's run lock, both or neither: `busy` when another run
   * holds the lock (it is released when a run finishes, and lapses at the run's deadline).
   */
  start(run: EvaluationRun, lockExpiresAt: number, now: Date): Promise<'started' | 'busy'>;
  /** The run (absent when unknown, another bot's, or expired at `now`). */
  get(scope: BotScope, evaluationId: string, now: Date): Promise<EvaluationRun | undefined>;
  /** A done run's results, in question order. */
  results(run: EvaluationRun): Promise<EvaluationResult[]>;
  /** Newest first, expired runs left out. */
  list(scope: BotScope, page: PageRequest, now: Date): Promise<Page<EvaluationRun>>;
  /**
   * Writes the results and marks the run done with its figures, releasing the lock, only if it is
   * still running: false when it had already finished (a redelivered message).
   */
  finish(
    run: EvaluationRun,
    outcome: {
      finishedAt: string;
      questionCount: number;
      recallAt5: number;
      mrr: number;
      results: readonly EvaluationResult[];
    },
  ): Promise<boolean>;
  /** Marks a running run failed with a reason, releasing the lock; false if it was not running. */
  fail(run: Pick<EvaluationRun, 'id' | 'tenantId' | 'botId'>, reason: string, at: string): Promise<boolean>;
  /** Every run, result and lock of the bot (the deletion cascade); how many items went. */
  deleteAllOfBot(scope: BotScope): Promise<number>;
}
