import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MAX_TEST_QUESTIONS_PER_BOT } from '../../shared/domain/evaluation.ts';
import { newId } from '../../shared/domain/ids.ts';
import { uploadDocument, waitForDocument } from '../support/knowledge.ts';
import { api, documentClientAt, platform, queueBacklog, runtimeOf } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

// Test questions and evaluation runs over HTTP against the local platform: questions saved with
// the document that should answer them, validated against the bot's own documents; a run over
// real uploaded documents, polled until done, whose figures are what its ranks imply; one run at a
// time per bot; idempotent redelivery; expiry; other tenants' ids 404; the delete cascade.

const HANDBOOK = `# Parley handbook

## Refund policy

Customers may return a zebra-striped teapot within 47 days of delivery for a full refund.

## Shipping

Parcels to Reykjavik travel by the Tuesday ferry and arrive within nine days.
`;

const GARDEN = `# Greenhouse notes

## Watering

The greenhouse orchids are watered with collected rainwater every Friday at dawn.

## Pests

Ladybirds are released among the tomato plants to keep the aphids away.
`;

const DOOMED = `# Lantern inventory

The brass lanterns of the lighthouse are polished with beeswax every spring.
`;

const text = (value: string) => new TextEncoder().encode(value);
const operator = () => platform().operatorKey;

async function tenantWithBot(name: string) {
  const created = await api('/admin/tenants', { method: 'POST', key: operator(), body: { name } });
  expect(created.status).toBe(201);
  const key: string = created.json.apiKey;
  const bot = await api('/admin/bots', { method: 'POST', key, body: { name: `${name} bot` } });
  expect(bot.status).toBe(201);
  return { key, tenantId: created.json.tenant.id as string, botId: bot.json.bot.id as string };
}

async function readyDocument(key: string, botId: string, filename: string, body: string): Promise<string> {
  const document = await uploadDocument(key, botId, {
    filename,
    contentType: 'text/markdown',
    bytes: text(body),
  });
  expect((await waitForDocument(key, botId, document.id)).status).toBe('ready');
  return document.id;
}

const questionsOf = (botId: string) => `/admin/bots/${botId}/test-questions`;
const evaluationsOf = (botId: string) => `/admin/bots/${botId}/evaluations`;

async function addQuestion(
  key: string,
  botId: string,
  body: { question: string; expectedDocumentId: string; expectedPage?: number },
) {
  const res = await api(questionsOf(botId), { method: 'POST', key, body });
  expect([res.status, res.json?.error]).toEqual([201, undefined]);
  return res.json.question as { id: string; question: string; expectedDocumentId: string };
}

interface Evaluation {
  id: string;
  status: 'running' | 'done' | 'failed';
  createdAt: string;
  finishedAt?: string;
  error?: string;
  questionCount: number;
  recallAt5?: number;
  mrr?: number;
  results?: {
    questionId: string;
    question: string;
    expectedDocumentId: string;
    expectedPage?: number;
    rank: number | null;
    retrieved: boolean;
    cited: boolean;
    topSources: { documentId: string; filename: string; page?: number; heading?: string; score: number }[];
  }[];
}

async function waitForRun(key: string, botId: string, evaluationId: string): Promise<Evaluation> {
  let last: Evaluation | undefined;
  await waitFor(
    async () => {
      const res = await api(`${evaluationsOf(botId)}/${evaluationId}`, { key });
      expect(res.status).toBe(200);
      last = res.json.evaluation;
      return last?.status !== 'running';
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `evaluation ${evaluationId} to finish` },
  );
  return last as Evaluation;
}

async function moveClock(offsetSeconds: number) {
  expect((await api('/_local/clock', { method: 'PUT', body: { offsetSeconds } })).status).toBe(200);
}

describe('test questions', () => {
  let owner: Awaited<ReturnType<typeof tenantWithBot>>;
  let stranger: Awaited<ReturnType<typeof tenantWithBot>>;
  let handbook: string;
  let strangersDocument: string;

  beforeAll(async () => {
    [owner, stranger] = await Promise.all([tenantWithBot('Questions'), tenantWithBot('Stranger')]);
    [handbook, strangersDocument] = await Promise.all([
      readyDocument(owner.key, owner.botId, 'handbook.md', HANDBOOK),
      readyDocument(stranger.key, stranger.botId, 'garden.md', GARDEN),
    ]);
  }, 120_000);

  it('refuses an unknown document, another tenant’s, a bad page and a too-long question, naming the field', async () => {
    const post = (body: unknown) => api(questionsOf(owner.botId), { method: 'POST', key: owner.key, body });
    const refused = async (body: unknown, path: string) => {
      const res = await post(body);
      expect([res.status, res.json.error.code, res.json.error.details?.[0]?.path]).toEqual([
        400,
        'bad_request',
        path,
      ]);
    };
    await refused({ question: 'Where?', expectedDocumentId: newId('doc') }, 'expectedDocumentId');
    await refused({ question: 'Where?', expectedDocumentId: strangersDocument }, 'expectedDocumentId');
    await refused({ question: 'Where?', expectedDocumentId: 'not an id' }, 'expectedDocumentId');
    await refused({ question: 'x'.repeat(2001), expectedDocumentId: handbook }, 'question');
    await refused({ question: '   ', expectedDocumentId: handbook }, 'question');
    await refused({ question: 'Where?', expectedDocumentId: handbook, expectedPage: 0 }, 'expectedPage');
    await refused({ question: 'Where?', expectedDocumentId: handbook, expectedPage: 1.5 }, 'expectedPage');
    await refused({ question: 'Where?', expectedDocumentId: handbook, extra: true }, '');
    await refused({ expectedDocumentId: handbook }, 'question');
    // 2,000 characters is the most.
    await addQuestion(owner.key, owner.botId, { question: 'y'.repeat(2000), expectedDocumentId: handbook });
  });

  it('lists oldest first a page at a time, replaces and deletes', async () => {
    const { key, botId } = await tenantWithBot('Paging');
    const document = await readyDocument(key, botId, 'handbook.md', HANDBOOK);
    const made = [];
    for (const n of [1, 2, 3]) {
      made.push(
        await addQuestion(key, botId, {
          question: `Question ${n}?`,
          expectedDocumentId: document,
          ...(n === 2 && { expectedPage: 4 }),
        }),
      );
    }
    expect(made[1]).toMatchObject({ expectedPage: 4, createdAt: expect.any(String) });
    const first = await api(`${questionsOf(botId)}?limit=2`, { key });
    expect(first.status).toBe(200);
    expect(first.json.items.map((q: { id: string }) => q.id)).toEqual(made.slice(0, 2).map((q) => q.id));
    expect(first.json.nextCursor).toEqual(expect.any(String));
    const second = await api(`${questionsOf(botId)}?limit=2&cursor=${first.json.nextCursor}`, { key });
    expect(second.json.items.map((q: { id: string }) => q.id)).toEqual([made[2]?.id]);
    expect(second.json.nextCursor).toBeNull();
    // Another list's cursor is refused.
    const foreignCursor = await api(`${questionsOf(owner.botId)}?cursor=${first.json.nextCursor}`, {
      key: owner.key,
    });
    expect(foreignCursor.status).toBe(400);

    const target = `${questionsOf(botId)}/${made[1]?.id}`;
    const replaced = await api(target, {
      method: 'PUT',
      key,
      body: { question: 'Where do parcels go?', expectedDocumentId: document },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.json.question).toMatchObject({ id: made[1]?.id, question: 'Where do parcels go?' });
    expect(replaced.json.question).not.toHaveProperty('expectedPage');
    expect(replaced.json.question.updatedAt >= replaced.json.question.createdAt).toBe(true);
    const badPut = await api(target, {
      method: 'PUT',
      key,
      body: { question: 'Where?', expectedDocumentId: newId('doc') },
    });
    expect([badPut.status, badPut.json.error.details[0].path]).toEqual([400, 'expectedDocumentId']);
    const missing = `${questionsOf(botId)}/${newId('doc').replace('doc_', 'tqn_')}`;
    expect(
      (await api(missing, { method: 'PUT', key, body: { question: 'Q?', expectedDocumentId: document } }))
        .status,
    ).toBe(404);

    expect((await api(target, { method: 'DELETE', key })).status).toBe(204);
    expect((await api(target, { method: 'DELETE', key })).status).toBe(404);
    const left = await api(questionsOf(botId), { key });
    expect(left.json.items.map((q: { id: string }) => q.id)).toEqual([made[0]?.id, made[2]?.id]);
  });

  it('answers another tenant’s bot and questions 404, as unknown ones', async () => {
    const mine = await addQuestion(owner.key, owner.botId, {
      question: 'Mine?',
      expectedDocumentId: handbook,
    });
    const asStranger = (path: string, method = 'GET', body?: unknown) =>
      api(path, { method, key: stranger.key, ...(body !== undefined && { body }) });
    const body = { question: 'Theirs?', expectedDocumentId: strangersDocument };
    for (const res of [
      await asStranger(questionsOf(owner.botId)),
      await asStranger(questionsOf(owner.botId), 'POST', body),
      await asStranger(`${questionsOf(owner.botId)}/${mine.id}`, 'PUT', body),
      await asStranger(`${questionsOf(owner.botId)}/${mine.id}`, 'DELETE'),
      // Its own bot, the owner's question id.
      await asStranger(`${questionsOf(stranger.botId)}/${mine.id}`, 'PUT', body),
      await asStranger(`${questionsOf(stranger.botId)}/${mine.id}`, 'DELETE'),
      await asStranger(evaluationsOf(owner.botId)),
      await asStranger(evaluationsOf(owner.botId), 'POST'),
    ]) {
      expect([res.status, res.json.error.code]).toEqual([404, 'not_found']);
      expect(res.text).not.toContain('Mine?');
    }
    const listed = await api(questionsOf(owner.botId), { key: owner.key });
    expect(listed.json.items.map((q: { id: string }) => q.id)).toContain(mine.id);
  });

  it(`caps a bot at ${MAX_TEST_QUESTIONS_PER_BOT} questions, with a clear message, and frees a slot on delete`, async () => {
    const { key, botId } = await tenantWithBot('Capped');
    const document = await readyDocument(key, botId, 'handbook.md', HANDBOOK);
    const ids: string[] = [];
    for (let batch = 0; batch < MAX_TEST_QUESTIONS_PER_BOT; batch += 20) {
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          addQuestion(key, botId, { question: `Question ${batch + i}?`, expectedDocumentId: document }),
        ),
      );
      ids.push(...made.map((q) => q.id));
    }
    const over = await api(questionsOf(botId), {
      method: 'POST',
      key,
      body: { question: 'One too many?', expectedDocumentId: document },
    });
    expect([over.status, over.json.error.code]).toEqual([409, 'conflict']);
    expect(over.json.error.message).toMatch(/at most 200 test questions/);
    expect((await api(`${questionsOf(botId)}/${ids[0]}`, { method: 'DELETE', key })).status).toBe(204);
    await addQuestion(key, botId, { question: 'Now it fits?', expectedDocumentId: document });
  }, 120_000);
});

describe('evaluation runs', () => {
  let key: string;
  let tenantId: string;
  let botId: string;
  let handbook: string;
  let garden: string;
  let run: Evaluation;

  beforeAll(async () => {
    ({ key, tenantId, botId } = await tenantWithBot('Evaluated'));
    [handbook, garden] = await Promise.all([
      readyDocument(key, botId, 'handbook.md', HANDBOOK),
      readyDocument(key, botId, 'garden.md', GARDEN),
    ]);
  }, 120_000);

  afterAll(() => moveClock(0));

  it('refuses a run without questions', async () => {
    const res = await api(evaluationsOf(botId), { method: 'POST', key });
    expect([res.status, res.json.error.code]).toEqual([400, 'bad_request']);
    expect(res.json.error.message).toMatch(/no test questions/);
  });

  it('runs the questions through retrieval: ranks, retrieved, cited, and recall@5 and MRR as the ranks imply', async () => {
    const doomed = await readyDocument(key, botId, 'lanterns.md', DOOMED);
    const questions = {
      refund: await addQuestion(key, botId, {
        question: 'How long do customers have to return a zebra-striped teapot?',
        expectedDocumentId: handbook,
      }),
      orchids: await addQuestion(key, botId, {
        question: 'When are the greenhouse orchids watered?',
        expectedDocumentId: garden,
      }),
      // The orchids are in the garden notes, not the handbook.
      wrongDocument: await addQuestion(key, botId, {
        question: 'When are the greenhouse orchids watered?',
        expectedDocumentId: handbook,
      }),
      // Markdown has no pages: no passage of the handbook is on page 3.
      wrongPage: await addQuestion(key, botId, {
        question: 'How do parcels reach Reykjavik?',
        expectedDocumentId: handbook,
        expectedPage: 3,
      }),
      unrelated: await addQuestion(key, botId, {
        question: 'Which volcano on Mars erupted in 1850?',
        expectedDocumentId: handbook,
      }),
      // Its document is deleted before the run: the question stays, and is not retrieved.
      deleted: await addQuestion(key, botId, {
        question: 'What are the brass lanterns polished with?',
        expectedDocumentId: doomed,
      }),
    };
    expect((await api(`/admin/bots/${botId}/documents/${doomed}`, { method: 'DELETE', key })).status).toBe(
      204,
    );
    const usageBefore = await embeddingTokens(key, botId);

    // Two at once: exactly one starts, the other is refused while it runs.
    const [a, b] = await Promise.all([
      api(evaluationsOf(botId), { method: 'POST', key }),
      api(evaluationsOf(botId), { method: 'POST', key }),
    ]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const started = (a.status === 202 ? a : b).json.evaluation as Evaluation;
    const refused = a.status === 202 ? b : a;
    expect(refused.json.error).toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/already running/),
    });
    expect(started).toMatchObject({ status: 'running', questionCount: 6 });
    expect(started).not.toHaveProperty('results');

    run = await waitForRun(key, botId, started.id);
    expect(run).toMatchObject({ status: 'done', questionCount: 6, finishedAt: expect.any(String) });
    const results = run.results ?? [];
    expect(results.map((r) => r.questionId)).toEqual(Object.values(questions).map((q) => q.id));
    const byQuestion = Object.fromEntries(
      Object.entries(questions).map(([name, q]) => [name, results.find((r) => r.questionId === q.id)]),
    );

    expect(byQuestion.refund).toMatchObject({ rank: 1, retrieved: true, cited: true });
    expect(byQuestion.refund?.topSources[0]).toMatchObject({
      documentId: handbook,
      filename: 'handbook.md',
      heading: 'Refund policy',
      score: expect.any(Number),
    });
    expect(byQuestion.orchids).toMatchObject({ rank: 1, retrieved: true, cited: true });
    expect(byQuestion.wrongDocument?.rank).not.toBe(1);
    expect(byQuestion.wrongPage).toMatchObject({
      rank: null,
      retrieved: false,
      cited: false,
      expectedPage: 3,
    });
    expect(byQuestion.wrongPage?.topSources.map((s) => s.documentId)).toContain(handbook);
    expect(byQuestion.unrelated).toMatchObject({ rank: null, retrieved: false, cited: false });
    expect(byQuestion.deleted).toMatchObject({ rank: null, retrieved: false, cited: false });
    for (const result of results) {
      expect(result.retrieved).toBe(result.rank !== null && result.rank <= 5);
      expect(result.topSources.length).toBeLessThanOrEqual(5);
      // The bot's topK is 5: cited exactly when retrieved.
      expect(result.cited).toBe(result.retrieved);
    }

    const ranks = results.map((r) => r.rank);
    expect(run.recallAt5).toBeCloseTo(ranks.filter((r) => r !== null).length / ranks.length, 10);
    expect(run.mrr).toBeCloseTo(
      ranks.reduce<number>((sum, r) => sum + (r ? 1 / r : 0), 0) / ranks.length,
      10,
    );
    // Embedding calls were counted in the bot's usage.
    expect(await embeddingTokens(key, botId)).toBeGreaterThan(usageBefore);
  }, 120_000);

  it('lists runs newest first with their figures; a finished run frees the bot for the next', async () => {
    const next = await api(evaluationsOf(botId), { method: 'POST', key });
    expect(next.status).toBe(202);
    const second = await waitForRun(key, botId, next.json.evaluation.id);
    expect(second.status).toBe('done');
    const list = await api(`${evaluationsOf(botId)}?limit=1`, { key });
    expect(list.status).toBe(200);
    expect(list.json.items).toHaveLength(1);
    expect(list.json.items[0]).toMatchObject({ id: second.id, status: 'done', recallAt5: second.recallAt5 });
    expect(list.json.items[0]).not.toHaveProperty('results');
    const rest = await api(`${evaluationsOf(botId)}?limit=10&cursor=${list.json.nextCursor}`, { key });
    expect(rest.json.items.map((e: Evaluation) => e.id)).toEqual([run.id]);
    expect(rest.json.items[0]).toMatchObject({ mrr: run.mrr, questionCount: 6 });
    expect(rest.json.nextCursor).toBeNull();
    expect(
      (await api(`${evaluationsOf(botId)}/${newId('doc').replace('doc_', 'evl_')}`, { key })).status,
    ).toBe(404);
  }, 60_000);

  it('does nothing on a redelivered message for a finished run', async () => {
    const { endpoints, env } = runtimeOf(platform().dataDir);
    const sqs = new SQSClient({
      endpoint: endpoints.sqs,
      region: env.AWS_REGION,
      credentials: {
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
      },
    });
    try {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: env.EVALUATE_QUEUE_URL,
          MessageBody: JSON.stringify({ kind: 'run', tenantId, botId, evaluationId: run.id }),
        }),
      );
    } finally {
      sqs.destroy();
    }
    await waitFor(async () => (await queueBacklog(platform().dataDir, 'EVALUATE_QUEUE_URL')) === 0, {
      timeoutMs: 20_000,
      intervalMs: 100,
      what: 'the evaluate queue to drain',
    });
    const again = await api(`${evaluationsOf(botId)}/${run.id}`, { key });
    expect(again.json.evaluation).toEqual(run);
  });

  it('forgets runs after 90 days', async () => {
    await moveClock(91 * 24 * 60 * 60);
    try {
      expect((await api(`${evaluationsOf(botId)}/${run.id}`, { key })).status).toBe(404);
      expect((await api(evaluationsOf(botId), { key })).json.items).toEqual([]);
    } finally {
      await moveClock(0);
    }
    expect((await api(`${evaluationsOf(botId)}/${run.id}`, { key })).status).toBe(200);
  });
});

async function embeddingTokens(key: string, botId: string): Promise<number> {
  const day = new Date().toISOString().slice(0, 10);
  const res = await api(`/admin/usage?from=${day}&to=${day}&botId=${botId}`, { key });
  expect(res.status).toBe(200);
  return res.json.totals.embeddingTokens as number;
}

describe('the delete cascade', () => {
  /** Items of the bot's questions (tenants table) and runs (usage table). */
  async function leftOf(tenantId: string, botId: string): Promise<{ questions: number; runs: number }> {
    const db = documentClientAt(platform().dataDir);
    try {
      const questions = await db.send(
        new QueryCommand({
          TableName: platform().env.TENANTS_TABLE,
          KeyConditionExpression: 'pk = :p AND begins_with(sk, :tq)',
          ExpressionAttributeValues: { ':p': `TENANT#${tenantId}`, ':tq': `TQ#${botId}` },
          ConsistentRead: true,
        }),
      );
      const runs = await db.send(
        new QueryCommand({
          TableName: platform().env.USAGE_TABLE,
          KeyConditionExpression: 'pk = :p',
          ExpressionAttributeValues: { ':p': `EVAL#${tenantId}#${botId}` },
          ConsistentRead: true,
        }),
      );
      return { questions: questions.Items?.length ?? 0, runs: runs.Items?.length ?? 0 };
    } finally {
      db.destroy();
    }
  }

  async function evaluatedBot(key: string, botId: string) {
    const document = await readyDocument(key, botId, 'handbook.md', HANDBOOK);
    await addQuestion(key, botId, {
      question: 'How long is the refund window?',
      expectedDocumentId: document,
    });
    const started = await api(evaluationsOf(botId), { method: 'POST', key });
    expect(started.status).toBe(202);
    expect((await waitForRun(key, botId, started.json.evaluation.id)).status).toBe('done');
  }

  it('deleting a bot, then its tenant, removes their test questions and evaluation runs', async () => {
    const { key, tenantId, botId } = await tenantWithBot('Cascade');
    const other = (await api('/admin/bots', { method: 'POST', key, body: { name: 'Second' } })).json.bot.id;
    await Promise.all([evaluatedBot(key, botId), evaluatedBot(key, other)]);
    // The questions, their counter; the run, its results and nothing else (the lock is released).
    expect(await leftOf(tenantId, botId)).toEqual({ questions: 2, runs: 2 });

    expect((await api(`/admin/bots/${botId}`, { method: 'DELETE', key })).status).toBe(204);
    expect(await leftOf(tenantId, botId)).toEqual({ questions: 0, runs: 0 });
    expect(await leftOf(tenantId, other)).toEqual({ questions: 2, runs: 2 });

    expect((await api(`/admin/tenants/${tenantId}`, { method: 'DELETE', key: operator() })).status).toBe(204);
    expect(await leftOf(tenantId, other)).toEqual({ questions: 0, runs: 0 });
  }, 120_000);
});
