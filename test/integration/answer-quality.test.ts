// Answer quality over HTTP on a platform of its own: hybrid retrieval finds an exact identifier's
// section first and a paraphrase that shares no word with its passage; a follow-up is searched
// with the turn before it (offline rule; and a hosted model's rewrite, metered); an unanswerable
// question gets the bot's no-answer message without a model call; and the citations list only the
// passages the (wire-server) model referenced. The documents are two real Debian Policy chapters
// from the corpus beside the checkout, and one short hand-written note for the paraphrase.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type OwnPlatform, spawnOwnPlatform } from '../../local/spawn.ts';
import { REWRITE_INSTRUCTIONS } from '../../shared/chat/rewrite.ts';
import { terms } from '../../shared/domain/terms.ts';
import { CORPUS_DIR, corpusAvailable, postForm } from '../support/knowledge.ts';
import { type ApiOptions, apiAt, TEST_OUTPUT_DIR } from '../support/platform.ts';
import { type OpenAIChatWireServer, startOpenAIChatServer } from '../support/wire/openai-chat-server.ts';

const NOTE = `# Returns

## Refunds

Money is returned to the original card within five business days.

## Opening hours

The shop opens at nine in the morning and closes at six.
`;

let model: OpenAIChatWireServer;
let started: OwnPlatform;
let key: string;
let localBot: string;
let hostedBot: string;

const call = (path: string, options: ApiOptions = {}) => apiAt(started.baseUrl, path, { key, ...options });

async function upload(botId: string, filename: string, contentType: string, bytes: Uint8Array) {
  const requested = await call(`/admin/bots/${botId}/documents`, {
    body: { filename, contentType, size: bytes.byteLength },
  });
  expect(requested.status).toBe(201);
  expect(await postForm(requested.json.upload, { filename, contentType, bytes })).toBeLessThan(300);
  return requested.json.document.id as string;
}

async function ready(botId: string, documentId: string) {
  for (let i = 0; ; i++) {
    const res = await call(`/admin/bots/${botId}/documents/${documentId}`);
    if (res.json.document.status === 'ready') return;
    if (res.json.document.status === 'failed' || i > 600) throw new Error(JSON.stringify(res.json.document));
    await new Promise((r) => setTimeout(r, 250));
  }
}

const chapter = (name: string) => new Uint8Array(readFileSync(join(CORPUS_DIR, 'site/debian-policy', name)));

const describeCorpus = corpusAvailable ? describe : describe.skip;

beforeAll(async () => {
  if (!corpusAvailable) return;
  model = await startOpenAIChatServer();
  started = await spawnOwnPlatform({
    name: 'answers',
    logFile: join(TEST_OUTPUT_DIR, 'platform-answers.log'),
    env: { OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: model.apiKey },
  });
  const tenant = await apiAt(started.baseUrl, '/admin/tenants', {
    key: started.operatorKey,
    body: { name: 'Answers' },
  });
  key = tenant.json.apiKey;
  // Generous rate limits: the tests ask quickly, and limits have tests of their own.
  const rateLimits = { perMinute: 1000, perSecond: 100, perUserPerMinute: 1000 };
  localBot = (await call('/admin/bots', { body: { name: 'Policy desk', rateLimits } })).json.bot.id;
  hostedBot = (
    await call('/admin/bots', {
      body: {
        name: 'Hosted desk',
        model: { provider: 'openai', id: 'gpt-4o-mini' },
        retrieval: { topK: 3 },
        rateLimits,
      },
    })
  ).json.bot.id;
  const documents = await Promise.all([
    upload(localBot, 'ch-relationships.html', 'text/html', chapter('ch-relationships.html')),
    upload(localBot, 'ch-maintainerscripts.html', 'text/html', chapter('ch-maintainerscripts.html')),
    upload(localBot, 'returns.md', 'text/markdown', new TextEncoder().encode(NOTE)),
    upload(hostedBot, 'ch-relationships.html', 'text/html', chapter('ch-relationships.html')),
  ]);
  await Promise.all([
    ready(localBot, documents[0] ?? ''),
    ready(localBot, documents[1] ?? ''),
    ready(localBot, documents[2] ?? ''),
    ready(hostedBot, documents[3] ?? ''),
  ]);
}, 300_000);

afterAll(async () => {
  await started?.stop();
  await model?.close();
});

describeCorpus('answer quality', () => {
  it('a question naming an exact identifier retrieves its section first', async () => {
    const res = await call(`/admin/bots/${localBot}/search`, {
      body: { query: 'For which debian/rules targets must Build-Depends-Indep be satisfied?' },
    });
    expect(res.status).toBe(200);
    expect(res.json.results[0]).toMatchObject({
      filename: 'ch-relationships.html',
      heading: expect.stringContaining('Build-Depends-Indep'),
      ranks: { keyword: 1 },
    });
  });

  it('a paraphrase sharing no word with its passage still finds it', async () => {
    const question = 'How long until I get my cash back?';
    const res = await call(`/admin/bots/${localBot}/search`, { body: { query: question } });
    const first = res.json.results[0];
    expect(first).toMatchObject({ filename: 'returns.md', heading: 'Refunds' });
    // Not one content word in common: only the meaning matched (the vector list).
    const shared = terms(question).filter((t) => terms(`${first.heading} ${first.text}`).includes(t));
    expect(shared).toEqual([]);
    expect(first.ranks.vector).toBe(1);
  });

  it('a follow-up retrieves the follow-up’s section (offline rule: with the turn before it)', async () => {
    const history = [{ role: 'user', content: 'What happens when postinst configure fails?' }];
    const question = 'Does dpkg try to undo anything in that case?';
    const headings = async (body: object) =>
      (await call(`/admin/bots/${localBot}/search`, { body })).json.results.map(
        (r: { heading: string }) => r.heading,
      );
    // Alone, the question does not say what "that case" is; with the turn before it, it does.
    expect((await headings({ query: question, history }))[0]).toBe('6.7. Details of configuration');
    expect((await headings({ query: question }))[0]).not.toBe('6.7. Details of configuration');

    // The chat turn searches the same way: a follow-up in a session is answered from that section.
    const first = await call(`/chat/${localBot}`, { body: { message: history[0]?.content } });
    const followUp = await call(`/chat/${localBot}`, {
      body: { message: question, sessionId: first.json.sessionId },
    });
    expect(followUp.json.answered).toBe(true);
    expect(followUp.json.citations.length).toBeGreaterThan(0);
  });

  it('an unanswerable question gets the no-answer message, no citation and answered: false, without a model call', async () => {
    const before = model.requests.length;
    const body = { message: 'What is the best recipe for a chocolate cake?' };
    const res = await call(`/chat/${hostedBot}`, { body });
    expect(res.status).toBe(200);
    const bot = (await call(`/admin/bots/${hostedBot}`)).json.bot;
    expect(res.json).toMatchObject({
      reply: bot.noAnswerMessage,
      citations: [],
      answered: false,
      fallback: false,
    });
    expect(model.requests.length).toBe(before);

    const stream = await fetch(`${started.baseUrl}/chat/${hostedBot}/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const events = await stream.text();
    expect(events).toContain('"answered":false');
    expect(events).toContain('event: citations\ndata: {"citations":[]}');

    const session = await call(`/admin/bots/${hostedBot}/sessions/${res.json.sessionId}`);
    expect(session.json.messages.at(-1)).toMatchObject({ role: 'assistant', answered: false });
  });

  it('citations list only the passages the model referenced, each with its number', async () => {
    model.answerFor = () => 'It names packages that add to this one [2].';
    try {
      const res = await call(`/chat/${hostedBot}`, {
        body: { message: 'What does the Enhances field declare?' },
      });
      expect(res.json).toMatchObject({ answered: true, fallback: false });
      expect(res.json.reply).toContain('[2]');
      expect(res.json.citations).toHaveLength(1);
      expect(res.json.citations[0]).toMatchObject({ n: 2, filename: 'ch-relationships.html' });
      // The prompt held three passages; the citation is the second of them.
      const prompt = model.requests.at(-1)?.body.messages[0].content as string;
      expect(prompt).toContain('<document index="3"');
      expect(prompt.split('<document index="2"')[1]?.split('</document>')[0]).toContain(
        res.json.citations[0].snippet.slice(0, 40),
      );
    } finally {
      model.answerFor = undefined;
    }
  });

  it('a hosted bot rewrites a follow-up with one short, metered call to its model', async () => {
    model.answerFor = (question) =>
      question.includes('<conversation>') ? 'Pre-Depends field meaning' : 'It is installed first [1].';
    try {
      const first = await call(`/chat/${hostedBot}`, { body: { message: 'What does Pre-Depends mean?' } });
      const sent = model.requests.length;
      const followUp = await call(`/chat/${hostedBot}`, {
        body: { message: 'And when should I use it?', sessionId: first.json.sessionId },
      });
      const calls = model.requests.slice(sent).map((r) => r.body);
      expect(calls).toHaveLength(2);
      expect(calls[0]?.messages[0]).toEqual({ role: 'system', content: REWRITE_INSTRUCTIONS });
      expect(calls[0]?.max_tokens ?? calls[0]?.max_completion_tokens).toBeLessThanOrEqual(60);
      // What was searched: the rewrite found the Pre-Depends section ("when should I use it" alone does not name it).
      expect(
        followUp.json.citations.some((c: { heading: string }) => c.heading.includes('Pre-Depends')),
      ).toBe(true);
      // The rewrite's tokens count toward the turn.
      const answerOnly = first.json.usage.inputTokens;
      expect(followUp.json.usage.inputTokens).toBeGreaterThan(answerOnly);
    } finally {
      model.answerFor = undefined;
    }
  });
});
