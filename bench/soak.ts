// bench/soak: mixed load through the local platform for a set time: chat, ingestion and webhooks
// at once, as a running platform sees them, to show throughput, tail latency and whether the
// platform's memory keeps growing.
//
// The models answer at once (OpenAI-compatible wire servers for chat completions and embeddings,
// reached through the real `openai` client, embeddings included), and replies to messaging
// channels go out through the real clients to the test suite's Telegram and Graph API wire
// servers, so every millisecond measured is the platform's. Limits are raised so nothing is
// refused. For SOAK_SECONDS, concurrently:
//   - chat workers: buffered turns (POST /chat/{botId}, tenant key), each worker its own session;
//   - webhook workers: signed Telegram and WhatsApp text deliveries (unique ids, a few users per
//     worker, each user's messages in order), every one of which must get exactly one reply;
//   - upload workers: a small generated document (Markdown, text or PDF, unique content) uploaded
//     through the presigned POST, as a browser does, then polled until ready or failed, then the
//     next one. The chat bot's knowledge base is the one they fill, so retrieval grows with it.
// Every ~10 s a progress line. Then the load stops, and the bench waits (up to 60 s) for every
// reply and every document before reading the platform's resident memory again.
//
// It prints, per kind: operations, per second, p50/p99 latency (chat: the request; webhook: the
// acknowledgement, and post to reply; ingestion: upload request to ready) and errors by status;
// replies lost, duplicated and out of order (all must be 0, else the exit code is 1); the resident
// memory (VmRSS) of the platform's process (every function runs in it) and of DynamoDB Local's
// Java at start and end; and, as the same-run baseline, GET /health measured idle before the load.
//
//   npm run bench:soak     (SOAK_SECONDS=60 SOAK_CHAT_WORKERS=4 SOAK_WEBHOOK_WORKERS=2 SOAK_UPLOAD_WORKERS=1)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeInfo } from '../local/start.ts';
import { makePdf, prose } from '../test/fixtures/documents/pdf.ts';
import { accountReplies, channelBench, percentile, replyTracker, sortedOf } from './support.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const CHAT_WORKERS = Number(process.env.SOAK_CHAT_WORKERS ?? 4);
const WEBHOOK_WORKERS = Number(process.env.SOAK_WEBHOOK_WORKERS ?? 2);
const UPLOAD_WORKERS = Number(process.env.SOAK_UPLOAD_WORKERS ?? 1);
/** Users per webhook worker, alternating Telegram and WhatsApp. */
const USERS_PER_WEBHOOK_WORKER = 4;
const PROGRESS_MS = 10_000;
/**
 * After the load, replies still queued are awaited as long as they keep coming: a backlog is
 * slow, not lost. A reply counts as lost only when none has arrived for this long (or at the cap).
 */
const DRAIN_STALL_MS = 30_000;
const DRAIN_CAP_MS = 15 * 60_000;
const HEALTH_SAMPLES = 200;
const QUESTION = 'What do the documents say about prices and support?';
/** Users are numbered from a phone number (WhatsApp users are phone numbers; Telegram takes any id). */
const PHONE = 4915_200_000_000;

type Channel = 'telegram' | 'whatsapp';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident memory of a process in MiB (VmRSS, or VmHWM for its peak); NaN once it is gone. */
function memoryMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  if (!pid) return Number.NaN;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Counts of errors by what went wrong (an HTTP status, `failed`, `network`, …). */
class Errors {
  readonly byKind = new Map<string, number>();
  add(kind: string | number) {
    this.byKind.set(String(kind), (this.byKind.get(String(kind)) ?? 0) + 1);
  }
  get total() {
    return [...this.byKind.values()].reduce((a, b) => a + b, 0);
  }
  toString() {
    return this.total === 0
      ? '0'
      : `${this.total} (${[...this.byKind].map(([k, n]) => `${k}: ${n}`).join(', ')})`;
  }
}

/** A small document with content no other upload has. */
function documentNumber(n: number): { filename: string; contentType: string; bytes: Uint8Array } {
  const topic = `Soak topic ${n}: the Quillon-${n} kettle`;
  const paragraphs = Array.from({ length: 4 }, (_, i) => `${topic}, part ${i + 1}. ${prose(n * 7 + i, 10)}`);
  switch (n % 3) {
    case 0:
      return {
        filename: `soak-${n}.md`,
        contentType: 'text/markdown',
        bytes: Buffer.from(
          `# ${topic}\n\n${paragraphs.map((p, i) => `## Part ${i + 1}\n\n${p}\n`).join('\n')}`,
        ),
      };
    case 1:
      return {
        filename: `soak-${n}.txt`,
        contentType: 'text/plain',
        bytes: Buffer.from(`${topic}\n\n${paragraphs.join('\n\n')}\n`),
      };
    default:
      return {
        filename: `soak-${n}.pdf`,
        contentType: 'application/pdf',
        bytes: makePdf([
          { heading: topic, paragraphs: paragraphs.slice(0, 2) },
          { heading: `${topic}, continued`, paragraphs: paragraphs.slice(2) },
        ]),
      };
  }
}

type Bench = Awaited<ReturnType<typeof channelBench>>;
interface Operations {
  chat: ReturnType<typeof chatOperation>;
  webhooks: ReturnType<typeof webhookOperation>;
  ingestion: ReturnType<typeof ingestOperation>;
}
type Pids = { platform: number | undefined; dynamodb: number };
const errorCount = (ops: Operations) =>
  ops.chat.errors.total + ops.webhooks.errors.total + ops.ingestion.errors.total;
const rssOf = (pids: Pids, field?: 'VmHWM') => ({
  platform: memoryMiB(pids.platform, field),
  dynamodb: memoryMiB(pids.dynamodb, field),
});

async function main() {
  const bench = await channelBench(
    'bench-soak',
    // Uploads all the run long.
    { maxDocuments: 1_000_000, maxUploadBytes: 16 * 1024 * 1024 },
  );
  const { platform, stop } = bench;
  const pids: Pids = {
    platform: platform.child.pid,
    dynamodb: (JSON.parse(readFileSync(join(platform.dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo)
      .dynamodbPid,
  };
  const replies = replyTracker(bench);
  let progress: NodeJS.Timeout | undefined;
  try {
    const ops: Operations = {
      chat: chatOperation(bench),
      webhooks: webhookOperation(bench),
      ingestion: ingestOperation(bench),
    };
    await warmUp(bench, ops, replies.count);
    const health = await idleHealth(platform.baseUrl);
    const rssStart = rssOf(pids);
    console.log(
      `bench/soak — local platform, Node ${process.version}; ${SECONDS} s of ${CHAT_WORKERS} chat, ` +
        `${WEBHOOK_WORKERS} webhook (${USERS_PER_WEBHOOK_WORKER} users each) and ${UPLOAD_WORKERS} upload workers, zero-latency models`,
    );
    console.log(
      `start: platform RSS ${rssStart.platform.toFixed(0)} MiB, DynamoDB Local RSS ${rssStart.dynamodb.toFixed(0)} MiB; ` +
        `idle GET /health p50 ${percentile(health, 50).toFixed(2)} ms, p99 ${percentile(health, 99).toFixed(2)} ms\n`,
    );

    const started = performance.now();
    replies.start();
    progress = progressTicker(started, ops, replies.count, pids, bench.models.forget);
    const drained = await loadAndDrain(started, ops, replies.count);
    // Anything duplicated would arrive right after the rest: give it a moment to show.
    await sleep(2_000);
    clearInterval(progress);
    replies.stop();
    const account = accountReplies(replies.received(), ops.webhooks.sentAt, replies.arrivedAt);
    printReport({
      started,
      ...drained,
      ops,
      account,
      health,
      rss: { start: rssStart, end: rssOf(pids), peak: rssOf(pids, 'VmHWM') },
    });
    const unfinished = [...ops.ingestion.errors.byKind.keys()].some((k) => k.startsWith('still '));
    const { lost, answeredTwice, outOfOrder, unexpected } = account;
    if (lost > 0 || answeredTwice > 0 || outOfOrder > 0 || unexpected > 0 || unfinished) process.exitCode = 1;
  } finally {
    clearInterval(progress);
    replies.stop();
    await stop();
  }
}

/** Each kind's first calls (one document of each type, every extractor's first load); then the counts start from 0. */
async function warmUp({ telegram, graph, models }: Bench, ops: Operations, replies: () => number) {
  const { chat, webhooks, ingestion } = ops;
  for (let i = 0; i < 3; i++) await ingestion.ingestOne(() => performance.now() + 60_000);
  await Promise.all(
    Array.from({ length: Math.max(CHAT_WORKERS, 1) }, async () => {
      let session: string | undefined;
      for (let i = 0; i < 20; i++) session = await chat.turn(session);
    }),
  );
  for (const channel of ['telegram', 'whatsapp'] as const)
    await webhooks.post(channel, PHONE, `warm up ${channel}`);
  for (const deadline = Date.now() + 60_000; replies() < 2 && Date.now() < deadline; ) await sleep(20);
  if (errorCount(ops) > 0 || replies() < 2) {
    throw new Error(
      `the warm-up failed: chat ${chat.errors}, webhooks ${webhooks.errors} (${replies()} of 2 replies), ingestion ${ingestion.errors}`,
    );
  }
  chat.ms.length = 0;
  webhooks.ackMs.length = 0;
  ingestion.ms.length = 0;
  ingestion.done = 0;
  webhooks.sentAt.clear();
  telegram.reset();
  graph.reset();
  models.forget();
}

/** A progress line every PROGRESS_MS; the wire servers' request logs are dropped at each. */
function progressTicker(
  started: number,
  ops: Operations,
  replies: () => number,
  pids: Pids,
  forget: () => void,
): NodeJS.Timeout {
  const { chat, webhooks, ingestion } = ops;
  let lastTick = { chat: 0 };
  return setInterval(() => {
    const recent = sortedOf(chat.ms.slice(lastTick.chat));
    lastTick = { chat: chat.ms.length };
    forget();
    console.log(
      `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s  chat ${String(chat.ms.length).padStart(6)} ` +
        `(last 10 s p50 ${percentile(recent, 50).toFixed(1)} ms, p99 ${percentile(recent, 99).toFixed(1)} ms)  ` +
        `webhooks ${String(webhooks.ackMs.length).padStart(5)} acked, ${String(replies()).padStart(5)} answered  ` +
        `documents ${String(ingestion.done).padStart(4)}  errors ${errorCount(ops)}  ` +
        `RSS platform ${memoryMiB(pids.platform).toFixed(0)} MiB, DynamoDB ${memoryMiB(pids.dynamodb).toFixed(0)} MiB`,
    );
  }, PROGRESS_MS);
}

type Rss = ReturnType<typeof rssOf>;

function printReport(run: {
  started: number;
  loadSeconds: number;
  backlogAtEnd: number;
  drainedAt: number;
  ops: Operations;
  account: ReturnType<typeof accountReplies>;
  health: number[];
  rss: { start: Rss; end: Rss; peak: Rss };
}) {
  const { started, loadSeconds, drainedAt, ops, account, health, rss } = run;
  const { lost, outOfOrder, unexpected, replyMs } = account;
  const lastReplyAt = Math.max(started, account.lastReplyAt);
  const row = (kind: string, count: number, seconds: number, samples: number[], errors: Errors | string) => {
    const sorted = sortedOf(samples);
    return (
      `${kind.padEnd(30)} ${String(count).padStart(7)} ${(count === 0 ? 0 : count / seconds).toFixed(1).padStart(8)}` +
      ` ${percentile(sorted, 50).toFixed(1).padStart(9)} ${percentile(sorted, 99).toFixed(1).padStart(9)}   ${errors}`
    );
  };
  const chatP50 = percentile(sortedOf(ops.chat.ms), 50);
  const mib = (which: keyof Rss) => {
    const [start, end, peak] = [rss.start[which], rss.end[which], rss.peak[which]];
    return `${start.toFixed(0)} → ${end.toFixed(0)} MiB (${end - start >= 0 ? '+' : ''}${(end - start).toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB)`;
  };
  const lines = [
    '',
    `load ${loadSeconds.toFixed(1)} s, then ${((drainedAt - started) / 1000 - loadSeconds).toFixed(1)} s until the last reply and document ` +
      `(${run.backlogAtEnd} replies still queued when the load stopped)`,
    '',
    `${'kind'.padEnd(30)} ${'ops'.padStart(7)} ${'per s'.padStart(8)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}   errors`,
    row('chat turn (POST /chat)', ops.chat.ms.length, loadSeconds, ops.chat.ms, ops.chat.errors),
    row(
      'webhook acknowledgement',
      ops.webhooks.ackMs.length,
      loadSeconds,
      ops.webhooks.ackMs,
      ops.webhooks.errors,
    ),
    row('webhook post to reply', replyMs.length, (lastReplyAt - started) / 1000, replyMs, `${lost} lost`),
    row(
      'ingestion (request to ready)',
      ops.ingestion.ms.length,
      Math.max(loadSeconds, (drainedAt - started) / 1000),
      ops.ingestion.ms,
      ops.ingestion.errors,
    ),
    '',
    `per s: chat and acknowledgements over the load; replies from the first post to the last reply; ` +
      `documents over load and drain (polled every 100 ms)`,
    `replies lost: ${lost}   duplicated: ${account.answeredTwice}   out of order: ${outOfOrder}   unexpected: ${unexpected}`,
    `platform RSS:       ${mib('platform')}`,
    `DynamoDB Local RSS: ${mib('dynamodb')}`,
    `baseline: idle GET /health p50 ${percentile(health, 50).toFixed(2)} ms, p99 ${percentile(health, 99).toFixed(2)} ms; ` +
      `chat p50 under mixed load is ${(chatP50 / percentile(health, 50)).toFixed(1)}× its p50`,
  ];
  console.log(lines.join('\n'));
}

/** GET /health before any load: the same-run baseline (ms, sorted). */
async function idleHealth(base: string): Promise<number[]> {
  const healthMs: number[] = [];
  for (let i = 0; i < HEALTH_SAMPLES; i++) {
    const started = performance.now();
    await (await fetch(`${base}/health`)).arrayBuffer();
    healthMs.push(performance.now() - started);
  }
  return sortedOf(healthMs);
}

/**
 * The workers of each kind for SECONDS; then, while the uploads finish, the replies still queued,
 * awaited as long as they keep coming (up to DRAIN_CAP_MS, or until none came for DRAIN_STALL_MS).
 */
async function loadAndDrain(started: number, ops: Operations, replies: () => number) {
  const loadEnds = started + SECONDS * 1000;
  const loading = () => performance.now() < loadEnds;
  let drainDeadline = Number.POSITIVE_INFINITY;
  const chatWorkers = Array.from({ length: CHAT_WORKERS }, async () => {
    let session: string | undefined;
    while (loading()) session = await ops.chat.turn(session);
  });
  const webhookWorkers = Array.from({ length: WEBHOOK_WORKERS }, async (_, worker) => {
    const users = Array.from({ length: USERS_PER_WEBHOOK_WORKER }, (_, u) => ({
      id: PHONE + 1_000 + worker * USERS_PER_WEBHOOK_WORKER + u,
      channel: (u % 2 === 0 ? 'telegram' : 'whatsapp') as Channel,
      next: 0,
    }));
    for (let i = 0; loading(); i++) {
      const user = users[i % users.length] as (typeof users)[number];
      await ops.webhooks.post(user.channel, user.id, `u${user.id} m${user.next++}`);
    }
  });
  const uploadWorkers = Array.from({ length: UPLOAD_WORKERS }, async () => {
    while (loading()) await ops.ingestion.ingestOne(() => drainDeadline);
  });
  await Promise.all([...chatWorkers, ...webhookWorkers]);
  const loadSeconds = (performance.now() - started) / 1000;

  const sent = ops.webhooks.sentAt;
  const backlogAtEnd = sent.size - replies();
  drainDeadline = performance.now() + DRAIN_CAP_MS;
  await Promise.all(uploadWorkers);
  let lastCount = replies();
  let lastProgress = performance.now();
  while (replies() < sent.size && performance.now() < drainDeadline) {
    await sleep(20);
    if (replies() > lastCount) {
      lastCount = replies();
      lastProgress = performance.now();
    } else if (performance.now() - lastProgress > DRAIN_STALL_MS) break;
  }
  return { loadSeconds, backlogAtEnd, drainedAt: performance.now() };
}

/** Buffered chat turns (POST /chat/{botId}, tenant key): their latencies and errors. */
function chatOperation({ platform, key, botId }: Bench) {
  const ms: number[] = [];
  const errors = new Errors();
  /** One buffered turn; gives the session to continue. */
  const turn = async (session: string | undefined): Promise<string | undefined> => {
    const started = performance.now();
    try {
      const response = await fetch(`${platform.baseUrl}/chat/${botId}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: QUESTION, ...(session && { sessionId: session }) }),
      });
      const body = (await response.json().catch(() => ({}))) as { sessionId?: string; fallback?: boolean };
      if (response.status !== 200) errors.add(response.status);
      else if (body.fallback) errors.add('fallback');
      else {
        ms.push(performance.now() - started);
        return body.sessionId;
      }
    } catch {
      errors.add('network');
    }
    await sleep(100);
    return session;
  };
  return { turn, ms, errors };
}

/** Signed webhook deliveries: acknowledgement latencies, errors, and when each message taken in was posted. */
function webhookOperation({ platform, botId, delivery }: Bench) {
  const ackMs: number[] = [];
  const errors = new Errors();
  /** When each message that was taken in was posted, by its text. */
  const sentAt = new Map<string, number>();
  /** Posts one message; true when it was acknowledged and queued. */
  const post = async (channel: Channel, user: number, text: string): Promise<boolean> => {
    const d = delivery(channel, user, text);
    const started = performance.now();
    try {
      const response = await fetch(`${platform.baseUrl}/webhooks/${channel}/${botId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...d.headers },
        body: d.body,
      });
      const answer = (await response.json().catch(() => ({}))) as { queued?: number };
      if (response.status !== 200) errors.add(response.status);
      else if (answer.queued !== 1) errors.add(`queued ${answer.queued}`);
      else {
        ackMs.push(performance.now() - started);
        sentAt.set(text, started);
        return true;
      }
    } catch {
      errors.add('network');
    }
    await sleep(100);
    return false;
  };
  return { post, ackMs, errors, sentAt };
}

/** Uploads through the presigned POST, each polled until ready: request-to-ready latencies, errors, documents done. */
function ingestOperation({ platform, key, botId }: Bench) {
  const base = platform.baseUrl;
  let nextDocument = 0;
  const operation = {
    ms: [] as number[],
    errors: new Errors(),
    done: 0,
    /** Uploads a new document and polls it until ready or failed (or `deadline`). */
    ingestOne: async (deadline: () => number) => {
      const file = documentNumber(nextDocument++);
      const started = performance.now();
      try {
        const id = await uploadDocument(base, key, botId, file, operation.errors);
        if (id === undefined) return;
        for (;;) {
          await sleep(100);
          const polled = await fetch(`${base}/admin/bots/${botId}/documents/${id}`, {
            headers: { authorization: `Bearer ${key}` },
          });
          const status = polled.ok
            ? ((await polled.json()) as { document: { status: string } }).document.status
            : `poll ${polled.status}`;
          if (!polled.ok) operation.errors.add(status);
          else if (status === 'ready') {
            operation.ms.push(performance.now() - started);
            operation.done++;
            return;
          } else if (status === 'failed') {
            operation.errors.add(`failed (${file.contentType})`);
            operation.done++;
            return;
          }
          if (performance.now() > deadline()) {
            operation.errors.add(`still ${status}`);
            return;
          }
        }
      } catch {
        operation.errors.add('network');
      }
    },
  };
  return operation;
}

/** Adds the document and uploads it as a browser does; its id, or undefined (the error counted). */
async function uploadDocument(
  base: string,
  key: string,
  botId: string,
  file: ReturnType<typeof documentNumber>,
  errors: Errors,
): Promise<string | undefined> {
  const response = await fetch(`${base}/admin/bots/${botId}/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ filename: file.filename, contentType: file.contentType, size: file.bytes.length }),
  });
  if (response.status !== 201) {
    errors.add(`request ${response.status}`);
    await response.arrayBuffer();
    await sleep(500);
    return undefined;
  }
  const { document, upload } = (await response.json()) as {
    document: { id: string };
    upload: { url: string; fields: Record<string, string> };
  };
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', new Blob([file.bytes], { type: file.contentType }), file.filename);
  const posted = await fetch(upload.url, { method: 'POST', body: form });
  await posted.arrayBuffer();
  if (posted.status >= 300) {
    errors.add(`upload ${posted.status}`);
    return undefined;
  }
  return document.id;
}

await main();
