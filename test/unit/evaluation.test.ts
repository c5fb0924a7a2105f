import { describe, expect, it } from '@jest/globals';
import { splitResults } from '../../shared/adapters/dynamodb/evaluations.ts';
import {
  EVALUATION_DEADLINE_SECONDS,
  type EvaluationResult,
  type EvaluationRun,
  judgeQuestion,
  STALE_REASON,
  scoreRun,
  toEvaluationView,
} from '../../shared/domain/evaluation.ts';
import { ID_PATTERN, newTimeOrderedId } from '../../shared/domain/ids.ts';
import { functions, queues } from '../../shared/resources.ts';

const passage = (documentId: string, page?: number) => ({
  documentId,
  filename: `${documentId}.pdf`,
  ...(page !== undefined && { page }),
  score: 0.5,
});

const question = { id: 'tqn_x', question: 'Q?', expectedDocumentId: 'doc_a' };

describe('judging a question', () => {
  it('ranks the first passage of the expected document among the top 5', () => {
    const result = judgeQuestion(question, [passage('doc_b'), passage('doc_a'), passage('doc_a')], 5);
    expect(result).toMatchObject({ rank: 2, retrieved: true, cited: true });
    expect(result.topSources.map((s) => s.documentId)).toEqual(['doc_b', 'doc_a', 'doc_a']);
  });

  it('with a page, only a passage of that page counts', () => {
    const withPage = { ...question, expectedPage: 3 };
    const passages = [passage('doc_a', 1), passage('doc_b'), passage('doc_a', 3)];
    expect(judgeQuestion(withPage, passages, 5)).toMatchObject({ rank: 3, expectedPage: 3 });
    expect(judgeQuestion(withPage, [passage('doc_a', 1)], 5)).toMatchObject({ rank: null, retrieved: false });
  });

  it('is not retrieved past the 5th passage, and cited only within the bot’s topK', () => {
    const six = [...Array.from({ length: 5 }, (_, i) => passage(`doc_${i}`)), passage('doc_a')];
    expect(judgeQuestion(question, six, 8)).toMatchObject({ rank: null, retrieved: false, cited: true });
    expect(judgeQuestion(question, six, 8).topSources).toHaveLength(5);
    const third = [passage('doc_b'), passage('doc_c'), passage('doc_a')];
    expect(judgeQuestion(question, third, 2)).toMatchObject({ rank: 3, retrieved: true, cited: false });
    expect(judgeQuestion(question, [], 5)).toMatchObject({ rank: null, retrieved: false, cited: false });
  });
});

describe('scoring a run', () => {
  it('recall@5 is the share found, MRR the mean reciprocal rank (0 when not found)', () => {
    expect(scoreRun([{ rank: 1 }, { rank: 2 }, { rank: null }, { rank: 4 }])).toEqual({
      recallAt5: 0.75,
      mrr: (1 + 0.5 + 0 + 0.25) / 4,
    });
    expect(scoreRun([])).toEqual({ recallAt5: 0, mrr: 0 });
  });
});

/** A run started at the turn of 2026, still running. */
const RUNNING: EvaluationRun = {
  id: 'evl_x',
  tenantId: 't',
  botId: 'b',
  status: 'running',
  createdAt: '2026-01-01T00:00:00.000Z',
  questionCount: 3,
  expiresAt: 0,
};

describe('stored runs', () => {
  const result = (n: number): EvaluationResult => ({
    questionId: `tqn_${n}`,
    question: 'x'.repeat(2000),
    expectedDocumentId: 'doc_a',
    rank: null,
    retrieved: false,
    cited: false,
    topSources: [],
  });

  it('keeps 200 long questions in parts under the item size limit, in order', () => {
    const results = Array.from({ length: 200 }, (_, i) => result(i));
    const parts = splitResults(results);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThan(300_000);
    expect(parts.flat()).toEqual(results);
    expect(splitResults([])).toEqual([]);
  });

  it('shows a run still running past its deadline as failed', () => {
    const run = RUNNING;
    const start = Date.parse(run.createdAt);
    expect(toEvaluationView(run, new Date(start + 1000)).status).toBe('running');
    const late = toEvaluationView(run, new Date(start + EVALUATION_DEADLINE_SECONDS * 1000));
    expect(late).toMatchObject({ status: 'failed', error: expect.stringMatching(/did not finish/) });
  });
});

describe('the run deadline', () => {
  const visibility = queues.evaluate.visibilityTimeoutSeconds;
  const attempt = functions.evaluate.timeoutSeconds;

  it('ends a run before its message can be redelivered', () => {
    // The latest attempt starts at the deadline and runs the function's whole timeout; the
    // earliest redelivery is a visibility timeout after the run started (it is received later).
    expect(EVALUATION_DEADLINE_SECONDS + attempt).toBeLessThanOrEqual(visibility);
    const run = RUNNING;
    const start = Date.parse(run.createdAt);
    // An attempt may begin just before the deadline; a redelivery always finds the run failed.
    expect(toEvaluationView(run, new Date(start + (EVALUATION_DEADLINE_SECONDS - 1) * 1000)).status).toBe(
      'running',
    );
    expect(toEvaluationView(run, new Date(start + visibility * 1000)).status).toBe('failed');
  });

  it('leaves a run queued promptly the function’s whole timeout, and says how long it had', () => {
    expect(EVALUATION_DEADLINE_SECONDS).toBeGreaterThan(attempt);
    expect(STALE_REASON).toContain(`within ${EVALUATION_DEADLINE_SECONDS / 60} minutes`);
  });
});

describe('time-ordered ids', () => {
  it('have the shape of every id and sort by creation time', () => {
    const times = [
      0,
      1,
      61,
      3844,
      Date.parse('2026-05-01T00:00:00Z'),
      Date.parse('2026-05-01T00:00:00.001Z'),
    ];
    const ids = times.map((t) => newTimeOrderedId('evl', new Date(t)));
    for (const id of ids) expect(id).toMatch(ID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(newTimeOrderedId('tqn', new Date(5))).not.toBe(newTimeOrderedId('tqn', new Date(5)));
  });
});
