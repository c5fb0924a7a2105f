// bench/chat: what one chat turn costs the platform, through the local platform.
//
// The models answer at once: a local OpenAI-compatible server (the test suite's wire servers for
// chat completions and embeddings, behind one base URL) that the platform reaches through the real
// `openai` client, so every millisecond measured is the platform's: the gateway, the handler, the
// bot and session reads, limits, retrieval (an embedding call and a LanceDB search), the prompt,
// the message and usage writes. Limits are raised so that nothing is refused.
//
// It prints, per concurrency (1, 10 and 50 sessions, each worker its own session):
//   - requests per second and p50/p99 latency of buffered turns, and the platform's overhead per
//     turn: latency minus the model calls a turn makes (one embedding and one completion, both
//     measured alone in this run through the same client);
//   - DynamoDB calls per turn, counted by the local gateway (Server-Timing), and the floor they
//     put under the overhead here (that many DynamoDB Local round trips, one after another);
//   - the platform's CPU per turn (its process and its emulators, from /proc), and the turns/s
//     that allows on this machine's cores: the ceiling of throughput here;
//   - time to the first streamed byte (the `session` event) and to the first `delta`;
// plus the size and import time of both chat bundles as the stack builds them (bench/chat-bundles.ts
// says what they count). Baselines, same run: a bare node:http round trip, one DynamoDB Local GetItem
// (locally, the turn waits mostly on its DynamoDB round trips), and for the bundles, the same code
// built as one file and importing an empty module.
//
//   npm run bench:chat     (BENCH_TURNS=300 BENCH_CONCURRENCY=1,10,50 to change the load)

import { availableParallelism } from 'node:os';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import OpenAI from 'openai';
import { spawnOwnPlatform } from '../local/spawn.ts';
import { documentClientAt, runtimeOf } from '../test/support/platform.ts';
import { printChatBundles } from './chat-bundles.ts';
import { apiCaller, bareHttp, cpuMsOfTree, percentile, sortedOf, zeroLatencyModels } from './support.ts';

const TURNS = Number(process.env.BENCH_TURNS ?? 300);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,10,50').split(',').map(Number);
const API_KEY = 'sk-bench-zero-latency';
const MODEL = 'gpt-4o-mini';
const QUESTION = 'When does the museum shop open, and who invented the Zorblax-9 teapot?';
const DOCUMENT = `# Museum

## The Zorblax teapot

The Zorblax-9 teapot was invented by Marguerite Oyelaran in 1987 in Tromsø.

## Opening hours

The museum shop opens at 10:30 every day except Mondays. ${'It sells postcards, books and teapots. '.repeat(40)}
`;

const ms = (value: number) => value.toFixed(1).padStart(7);

/** The model calls of one turn, alone: an embedding and a completion through the openai client. */
async function modelCallsAlone(baseURL: string, times: number): Promise<number[]> {
  const client = new OpenAI({ apiKey: API_KEY, baseURL });
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await client.embeddings.create({ model: 'text-embedding-3-small', input: [QUESTION], dimensions: 1024 });
    await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: QUESTION }] });
    samples.push(performance.now() - started);
  }
  return samples;
}

/** GetItem round trips to the platform's DynamoDB Local: the floor under each of a turn's serial reads and writes. */
async function dynamodbRoundTrips(dataDir: string, times: number): Promise<number[]> {
  const table = runtimeOf(dataDir).env.TENANTS_TABLE;
  const client = documentClientAt(dataDir);
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await client.send(new GetCommand({ TableName: table, Key: { pk: 'BENCH', sk: 'BENCH' } }));
    samples.push(performance.now() - started);
  }
  client.destroy();
  return samples;
}

interface Turn {
  ms: number;
  dynamodbCalls: number;
  dynamodbDetail: string;
}

/** Runs `total` requests over `concurrency` workers, each keeping its own session. */
async function load(concurrency: number, total: number, send: Send) {
  const turns: Turn[] = [];
  const sessions: (string | undefined)[] = Array.from({ length: concurrency }, () => undefined);
  let remaining = total;
  const started = performance.now();
  await Promise.all(
    sessions.map(async (_, worker) => {
      while (remaining-- > 0) {
        const { turn, session } = await send(worker, sessions[worker]);
        sessions[worker] = session;
        turns.push(turn);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { turns, rps: turns.length / seconds };
}

function dynamodbCalls(serverTiming: string | null): { count: number; detail: string } {
  const match = /dynamodb;desc="(\d+) \(([^)]*)\)"/.exec(serverTiming ?? '');
  return { count: Number(match?.[1] ?? 0), detail: match?.[2] ?? '' };
}

async function main() {
  const models = await zeroLatencyModels(API_KEY);
  models.chat.answer = 'The shop opens at 10:30 [1]; Marguerite Oyelaran invented the teapot [1].';
  const bare = await bareHttp();
  const platform = await spawnOwnPlatform({
    name: 'bench-chat',
    env: {
      LOG_LEVEL: 'WARN',
      EMBEDDING_PROVIDER: 'openai',
      OPENAI_BASE_URL: models.baseURL,
      OPENAI_API_KEY: API_KEY,
    },
  });
  const base = platform.baseUrl;
  try {
    const bot = await museumBot(base, platform.operatorKey);
    const buffered = bufferedTurn(base, bot);
    const bareRoundTrip = async () => {
      const started = performance.now();
      await (await fetch(bare.url, { method: 'POST', body: '{}' })).arrayBuffer();
      return { turn: { ms: performance.now() - started, dynamodbCalls: 0, dynamodbDetail: '' } };
    };

    // Warm up: module loads, LanceDB's table, DynamoDB Local's JIT, connection pools.
    await load(8, 200, buffered);
    await load(8, 200, bareRoundTrip);
    models.forget();
    const modelAlone = sortedOf(await modelCallsAlone(models.baseURL, 200));
    const dynamodbAlone = sortedOf(await dynamodbRoundTrips(platform.dataDir, 200));

    console.log(`bench/chat — Node ${process.version}, ${TURNS} turns per run, ${base}`);
    console.log(
      `model calls alone (1 embedding + 1 completion, zero-latency server, openai client): ` +
        `p50 ${percentile(modelAlone, 50).toFixed(2)} ms, p99 ${percentile(modelAlone, 99).toFixed(2)} ms\n`,
    );
    console.log(
      `one DynamoDB Local GetItem alone (this process, same emulator): p50 ${percentile(
        dynamodbAlone,
        50,
      ).toFixed(2)} ms, p99 ${percentile(dynamodbAlone, 99).toFixed(2)} ms\n`,
    );
    await benchBuffered(
      buffered,
      bareRoundTrip,
      {
        modelP50: percentile(modelAlone, 50),
        dynamodbP50: percentile(dynamodbAlone, 50),
        platformPid: platform.child.pid ?? 0,
      },
      models.forget,
    );
    await benchStreamed(base, bot);
    models.forget();
  } finally {
    await platform.stop();
    await Promise.all([models.close(), bare.close()]);
  }
  await printChatBundles();
}

interface MuseumBot {
  key: string;
  botId: string;
}

/** A tenant with limits raised and its bot, with the museum document uploaded and ready. */
async function museumBot(base: string, operatorKey: string): Promise<MuseumBot> {
  const call = apiCaller(base);
  const tenant = await call('/admin/tenants', operatorKey, {
    name: 'Bench',
    plan: { monthlyMessages: 1_000_000_000, monthlyTokens: 1_000_000_000_000 },
  });
  const key: string = tenant.apiKey;
  const bot = await call('/admin/bots', key, {
    name: 'Museum',
    model: { provider: 'openai', id: MODEL },
    // The wire server's embeddings are hashes of the text, not meanings: every passage counts.
    retrieval: { topK: 4, minScore: 0 },
    rateLimits: { perMinute: 100_000, perSecond: 10_000, perUserPerMinute: 10_000 },
  });
  const botId: string = bot.bot.id;
  // The document goes in through the presigned POST, as a browser uploads it.
  const upload = await call(`/admin/bots/${botId}/documents`, key, {
    filename: 'museum.md',
    contentType: 'text/markdown',
    size: Buffer.byteLength(DOCUMENT),
  });
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.upload.fields as Record<string, string>))
    form.append(name, value);
  form.append('file', new Blob([DOCUMENT], { type: 'text/markdown' }), 'museum.md');
  const posted = await fetch(upload.upload.url, { method: 'POST', body: form });
  if (!posted.ok) throw new Error(`upload: ${posted.status}`);
  for (let ready = false; !ready; ) {
    const status = (await call(`/admin/bots/${botId}/documents/${upload.document.id}`, key)).document.status;
    if (status === 'failed') throw new Error('the bench document failed to ingest');
    ready = status === 'ready';
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { key, botId };
}

type Send = (worker: number, session: string | undefined) => Promise<{ turn: Turn; session?: string }>;

/** One buffered turn (POST /chat/{botId}) in the given session; a refused or fallback answer throws. */
function bufferedTurn(base: string, { key, botId }: MuseumBot): Send {
  return async (_worker, session) => {
    const started = performance.now();
    const response = await fetch(`${base}/chat/${botId}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: QUESTION, ...(session && { sessionId: session }) }),
    });
    const body = (await response.json()) as {
      sessionId?: string;
      citations?: unknown[];
      fallback?: boolean;
    };
    const elapsed = performance.now() - started;
    if (response.status !== 200 || body.fallback || !body.citations?.length) {
      throw new Error(`a turn answered ${response.status} ${JSON.stringify(body)}`);
    }
    const calls = dynamodbCalls(response.headers.get('server-timing'));
    return {
      turn: { ms: elapsed, dynamodbCalls: calls.count, dynamodbDetail: calls.detail },
      session: body.sessionId,
    };
  };
}

/** Buffered turns at each concurrency, against a bare HTTP round trip at the same concurrency. */
async function benchBuffered(
  buffered: Send,
  bareRoundTrip: Send,
  floors: { modelP50: number; dynamodbP50: number; platformPid: number },
  forget: () => void,
) {
  console.log('buffered turns (POST /chat/{botId}), each worker its own session');
  console.log(
    'sessions   turns/s   p50 ms   p99 ms   overhead p50   overhead p99   bare HTTP p50   DynamoDB calls/turn   CPU ms/turn (Node)   turns/s the CPU allows',
  );
  let detail = '';
  let meanCalls = 0;
  for (const concurrency of CONCURRENCY) {
    const cpuBefore = cpuMsOfTree(floors.platformPid);
    const { turns, rps } = await load(concurrency, Math.max(TURNS, concurrency * 4), buffered);
    // The platform's CPU (its process and its emulators) per turn: what bounds turns/s on these cores.
    const cpuAfter = cpuMsOfTree(floors.platformPid);
    const cpuPerTurn = (cpuAfter.all - cpuBefore.all) / turns.length;
    const platformCpuPerTurn = (cpuAfter.own - cpuBefore.own) / turns.length;
    const { turns: bareTurns } = await load(concurrency, Math.max(TURNS, concurrency * 4), bareRoundTrip);
    forget();
    const latency = sortedOf(turns.map((t) => t.ms));
    const overhead = sortedOf(turns.map((t) => t.ms - floors.modelP50));
    const calls = turns.map((t) => t.dynamodbCalls);
    meanCalls = calls.reduce((a, b) => a + b, 0) / calls.length;
    detail = turns.at(-1)?.dynamodbDetail ?? '';
    console.log(
      `${String(concurrency).padStart(8)} ${rps.toFixed(0).padStart(9)} ${ms(percentile(latency, 50))}  ${ms(
        percentile(latency, 99),
      )}  ${ms(percentile(overhead, 50)).padStart(13)}  ${ms(percentile(overhead, 99)).padStart(13)}  ${ms(
        percentile(sortedOf(bareTurns.map((t) => t.ms)), 50),
      ).padStart(
        14,
      )}  ${meanCalls.toFixed(1).padStart(20)}  ${`${cpuPerTurn.toFixed(1)} (${platformCpuPerTurn.toFixed(1)})`.padStart(19)}  ${(
        (availableParallelism() * 1000) /
        cpuPerTurn
      )
        .toFixed(0)
        .padStart(22)}`,
    );
  }
  console.log(`DynamoDB calls of a follow-up turn: ${detail}`);
  console.log(
    `the emulator's floor under a turn's overhead: its ${meanCalls.toFixed(0)} DynamoDB calls, one after another, ` +
      `at one GetItem's p50 = ${(meanCalls * floors.dynamodbP50).toFixed(1)} ms ` +
      `(CPU per turn: the platform's process and its emulators, the platform's Node process alone in brackets; ${availableParallelism()} cores)\n`,
  );
}

/** Streamed turns, one at a time: time to the first byte of the body (the `session` event) and to the first delta. */
async function benchStreamed(base: string, { key, botId }: MuseumBot) {
  const firstByte: number[] = [];
  const firstDelta: number[] = [];
  for (let i = 0; i < Math.min(TURNS, 200); i++) {
    const started = performance.now();
    const response = await fetch(`${base}/chat/${botId}/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: QUESTION }),
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!text) firstByte.push(performance.now() - started);
      text += decoder.decode(value, { stream: true });
      if (firstDelta.length <= i && text.includes('event: delta'))
        firstDelta.push(performance.now() - started);
    }
    if (!text.includes('event: done')) throw new Error(`a stream ended without done: ${text}`);
  }
  const fb = sortedOf(firstByte);
  const fd = sortedOf(firstDelta);
  console.log('streamed turns (POST /chat/{botId}/stream), one at a time');
  console.log(
    `time to first byte: p50 ${percentile(fb, 50).toFixed(1)} ms, p99 ${percentile(fb, 99).toFixed(1)} ms; ` +
      `to first delta: p50 ${percentile(fd, 50).toFixed(1)} ms, p99 ${percentile(fd, 99).toFixed(1)} ms\n`,
  );
}

await main();
