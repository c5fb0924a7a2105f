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
import { channelBench, percentile, sortedOf } from './support.ts';

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

async function main() {
  const { platform, models, telegram, graph, key, botId, delivery, stop } = await channelBench(
    'bench-soak',
    // Uploads all the run long.
    { maxDocuments: 1_000_000, maxUploadBytes: 16 * 1024 * 1024 },
  );
  const base = platform.baseUrl;
  const platformPid = platform.child.pid;
  const runtime = JSON.parse(readFileSync(join(platform.dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo;
  const dynamodbPid = runtime.dynamodbPid;
  const ticker: { timer?: NodeJS.Timeout; sampler?: NodeJS.Timeout } = {};
  try {
    // ── the three kinds of operation ─────────────────────────────────────────────────────────

    const chatMs: number[] = [];
    const chatErrors = new Errors();
    /** One buffered turn; gives the session to continue. */
    const chatTurn = async (session: string | undefined): Promise<string | undefined> => {
      const started = performance.now();
      try {
        const response = await fetch(`${base}/chat/${botId}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message: QUESTION, ...(session && { sessionId: session }) }),
        });
        const body = (await response.json().catch(() => ({}))) as { sessionId?: string; fallback?: boolean };
        if (response.status !== 200) chatErrors.add(response.status);
        else if (body.fallback) chatErrors.add('fallback');
        else {
          chatMs.push(performance.now() - started);
          return body.sessionId;
        }
      } catch {
        chatErrors.add('network');
      }
      await sleep(100);
      return session;
    };

    const ackMs: number[] = [];
    const webhookErrors = new Errors();
    /** When each message that was taken in was posted, by its text. */
    const sentAt = new Map<string, number>();
    /** Posts one message; true when it was acknowledged and queued. */
    const postMessage = async (channel: Channel, user: number, text: string): Promise<boolean> => {
      const d = delivery(channel, user, text);
      const started = performance.now();
      try {
        const response = await fetch(`${base}/webhooks/${channel}/${botId}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...d.headers },
          body: d.body,
        });
        const answer = (await response.json().catch(() => ({}))) as { queued?: number };
        if (response.status !== 200) webhookErrors.add(response.status);
        else if (answer.queued !== 1) webhookErrors.add(`queued ${answer.queued}`);
        else {
          ackMs.push(performance.now() - started);
          sentAt.set(text, started);
          return true;
        }
      } catch {
        webhookErrors.add('network');
      }
      await sleep(100);
      return false;
    };

    const ingestMs: number[] = [];
    const ingestErrors = new Errors();
    let documentsDone = 0;
    let nextDocument = 0;
    /** Uploads a new document and polls it until ready or failed (or `deadline`). */
    const ingestOne = async (deadline: () => number) => {
      const file = documentNumber(nextDocument++);
      const started = performance.now();
      try {
        const response = await fetch(`${base}/admin/bots/${botId}/documents`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            filename: file.filename,
            contentType: file.contentType,
            size: file.bytes.length,
          }),
        });
        if (response.status !== 201) {
          ingestErrors.add(`request ${response.status}`);
          await response.arrayBuffer();
          await sleep(500);
          return;
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
          ingestErrors.add(`upload ${posted.status}`);
          return;
        }
        for (;;) {
          await sleep(100);
          const polled = await fetch(`${base}/admin/bots/${botId}/documents/${document.id}`, {
            headers: { authorization: `Bearer ${key}` },
          });
          const status = polled.ok
            ? ((await polled.json()) as { document: { status: string } }).document.status
            : `poll ${polled.status}`;
          if (!polled.ok) ingestErrors.add(status);
          else if (status === 'ready') {
            ingestMs.push(performance.now() - started);
            documentsDone++;
            return;
          } else if (status === 'failed') {
            ingestErrors.add(`failed (${file.contentType})`);
            documentsDone++;
            return;
          }
          if (performance.now() > deadline()) {
            ingestErrors.add(`still ${status}`);
            return;
          }
        }
      } catch {
        ingestErrors.add('network');
      }
    };

    // Replies, and when each reached its wire server (sampled every few milliseconds).
    const replies = () => telegram.sent.length + graph.sent.length;
    const arrivedAt = new Map<string, number>();
    let seenTelegram = 0;
    let seenGraph = 0;
    const sampleReplies = () => {
      const now = performance.now();
      for (; seenTelegram < telegram.sent.length; seenTelegram++)
        arrivedAt.set(telegram.sent[seenTelegram]?.text ?? '', now);
      for (; seenGraph < graph.sent.length; seenGraph++)
        arrivedAt.set(graph.sent[seenGraph]?.text ?? '', now);
    };

    // ── warm up, then the idle baseline ──────────────────────────────────────────────────────

    // One document of each type (Markdown, text, PDF): each extractor's first load.
    for (let i = 0; i < 3; i++) await ingestOne(() => performance.now() + 60_000);
    await Promise.all(
      Array.from({ length: Math.max(CHAT_WORKERS, 1) }, async () => {
        let session: string | undefined;
        for (let i = 0; i < 20; i++) session = await chatTurn(session);
      }),
    );
    for (const channel of ['telegram', 'whatsapp'] as const)
      await postMessage(channel, PHONE, `warm up ${channel}`);
    for (const deadline = Date.now() + 60_000; replies() < 2 && Date.now() < deadline; ) await sleep(20);
    if (chatErrors.total + webhookErrors.total + ingestErrors.total > 0 || replies() < 2) {
      throw new Error(
        `the warm-up failed: chat ${chatErrors}, webhooks ${webhookErrors} (${replies()} of 2 replies), ingestion ${ingestErrors}`,
      );
    }
    chatMs.length = 0;
    ackMs.length = 0;
    ingestMs.length = 0;
    documentsDone = 0;
    sentAt.clear();
    telegram.reset();
    graph.reset();
    models.forget();

    const healthMs: number[] = [];
    for (let i = 0; i < HEALTH_SAMPLES; i++) {
      const started = performance.now();
      await (await fetch(`${base}/health`)).arrayBuffer();
      healthMs.push(performance.now() - started);
    }
    const health = sortedOf(healthMs);

    const rssStart = { platform: memoryMiB(platformPid), dynamodb: memoryMiB(dynamodbPid) };
    console.log(
      `bench/soak — local platform, Node ${process.version}; ${SECONDS} s of ${CHAT_WORKERS} chat, ` +
        `${WEBHOOK_WORKERS} webhook (${USERS_PER_WEBHOOK_WORKER} users each) and ${UPLOAD_WORKERS} upload workers, zero-latency models`,
    );
    console.log(
      `start: platform RSS ${rssStart.platform.toFixed(0)} MiB, DynamoDB Local RSS ${rssStart.dynamodb.toFixed(0)} MiB; ` +
        `idle GET /health p50 ${percentile(health, 50).toFixed(2)} ms, p99 ${percentile(health, 99).toFixed(2)} ms\n`,
    );

    // ── the load ─────────────────────────────────────────────────────────────────────────────

    const started = performance.now();
    const loadEnds = started + SECONDS * 1000;
    const loading = () => performance.now() < loadEnds;
    let drainDeadline = Number.POSITIVE_INFINITY;
    ticker.sampler = setInterval(sampleReplies, 5);
    let lastTick = { chat: 0 };
    ticker.timer = setInterval(() => {
      const recent = sortedOf(chatMs.slice(lastTick.chat));
      lastTick = { chat: chatMs.length };
      models.forget();
      console.log(
        `${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s  chat ${String(chatMs.length).padStart(6)} ` +
          `(last 10 s p50 ${percentile(recent, 50).toFixed(1)} ms, p99 ${percentile(recent, 99).toFixed(1)} ms)  ` +
          `webhooks ${String(ackMs.length).padStart(5)} acked, ${String(replies()).padStart(5)} answered  ` +
          `documents ${String(documentsDone).padStart(4)}  errors ${chatErrors.total + webhookErrors.total + ingestErrors.total}  ` +
          `RSS platform ${memoryMiB(platformPid).toFixed(0)} MiB, DynamoDB ${memoryMiB(dynamodbPid).toFixed(0)} MiB`,
      );
    }, PROGRESS_MS);

    const chatWorkers = Array.from({ length: CHAT_WORKERS }, async () => {
      let session: string | undefined;
      while (loading()) session = await chatTurn(session);
    });
    const webhookWorkers = Array.from({ length: WEBHOOK_WORKERS }, async (_, worker) => {
      const users = Array.from({ length: USERS_PER_WEBHOOK_WORKER }, (_, u) => ({
        id: PHONE + 1_000 + worker * USERS_PER_WEBHOOK_WORKER + u,
        channel: (u % 2 === 0 ? 'telegram' : 'whatsapp') as Channel,
        next: 0,
      }));
      for (let i = 0; loading(); i++) {
        const user = users[i % users.length] as (typeof users)[number];
        await postMessage(user.channel, user.id, `u${user.id} m${user.next++}`);
      }
    });
    const uploadWorkers = Array.from({ length: UPLOAD_WORKERS }, async () => {
      while (loading()) await ingestOne(() => drainDeadline);
    });
    await Promise.all([...chatWorkers, ...webhookWorkers]);
    const loadSeconds = (performance.now() - started) / 1000;

    // ── drain: the last documents and replies ────────────────────────────────────────────────

    const backlogAtEnd = sentAt.size - replies();
    drainDeadline = performance.now() + DRAIN_CAP_MS;
    await Promise.all(uploadWorkers);
    let lastCount = replies();
    let lastProgress = performance.now();
    while (replies() < sentAt.size && performance.now() < drainDeadline) {
      await sleep(20);
      if (replies() > lastCount) {
        lastCount = replies();
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > DRAIN_STALL_MS) break;
    }
    const drainedAt = performance.now();
    // Anything duplicated would arrive right after the rest: give it a moment to show.
    await sleep(2_000);
    clearInterval(ticker.sampler);
    clearInterval(ticker.timer);
    sampleReplies();
    const rssEnd = { platform: memoryMiB(platformPid), dynamodb: memoryMiB(dynamodbPid) };
    const platformPeak = memoryMiB(platformPid, 'VmHWM');
    const dynamodbPeak = memoryMiB(dynamodbPid, 'VmHWM');

    // ── accounting ──────────────────────────────────────────────────────────────────────────

    const counts = new Map<string, number>();
    const replyMs: number[] = [];
    const lastOfUser = new Map<string, number>();
    let outOfOrder = 0;
    let lastReplyAt = started;
    for (const { to, text } of [...telegram.sent, ...graph.sent]) {
      const question = text.replace(/^Re: /, '');
      counts.set(question, (counts.get(question) ?? 0) + 1);
      const at = sentAt.get(question);
      const arrived = arrivedAt.get(text);
      if (at !== undefined && arrived !== undefined) {
        replyMs.push(arrived - at);
        lastReplyAt = Math.max(lastReplyAt, arrived);
      }
      const index = Number(/ m(\d+)$/.exec(question)?.[1]);
      if (index <= (lastOfUser.get(to) ?? -1)) outOfOrder++;
      lastOfUser.set(to, index);
    }
    const lost = [...sentAt.keys()].filter((q) => !counts.has(q)).length;
    const duplicated = [...counts.values()].filter((n) => n > 1).length;
    const unexpected = [...counts.keys()].filter((q) => !sentAt.has(q)).length;

    const row = (
      kind: string,
      count: number,
      seconds: number,
      samples: number[],
      errors: Errors | string,
    ): string => {
      const sorted = sortedOf(samples);
      return (
        `${kind.padEnd(30)} ${String(count).padStart(7)} ${(count === 0 ? 0 : count / seconds).toFixed(1).padStart(8)}` +
        ` ${percentile(sorted, 50).toFixed(1).padStart(9)} ${percentile(sorted, 99).toFixed(1).padStart(9)}   ${errors}`
      );
    };
    const chatP50 = percentile(sortedOf(chatMs), 50);
    const mib = (start: number, end: number, peak: number) =>
      `${start.toFixed(0)} → ${end.toFixed(0)} MiB (${end - start >= 0 ? '+' : ''}${(end - start).toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB)`;
    const lines = [
      '',
      `load ${loadSeconds.toFixed(1)} s, then ${((drainedAt - started) / 1000 - loadSeconds).toFixed(1)} s until the last reply and document ` +
        `(${backlogAtEnd} replies still queued when the load stopped)`,
      '',
      `${'kind'.padEnd(30)} ${'ops'.padStart(7)} ${'per s'.padStart(8)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)}   errors`,
      row('chat turn (POST /chat)', chatMs.length, loadSeconds, chatMs, chatErrors),
      row('webhook acknowledgement', ackMs.length, loadSeconds, ackMs, webhookErrors),
      row('webhook post to reply', replyMs.length, (lastReplyAt - started) / 1000, replyMs, `${lost} lost`),
      row(
        'ingestion (request to ready)',
        ingestMs.length,
        Math.max(loadSeconds, (drainedAt - started) / 1000),
        ingestMs,
        ingestErrors,
      ),
      '',
      `per s: chat and acknowledgements over the load; replies from the first post to the last reply; ` +
        `documents over load and drain (polled every 100 ms)`,
      `replies lost: ${lost}   duplicated: ${duplicated}   out of order: ${outOfOrder}   unexpected: ${unexpected}`,
      `platform RSS:       ${mib(rssStart.platform, rssEnd.platform, platformPeak)}`,
      `DynamoDB Local RSS: ${mib(rssStart.dynamodb, rssEnd.dynamodb, dynamodbPeak)}`,
      `baseline: idle GET /health p50 ${percentile(health, 50).toFixed(2)} ms, p99 ${percentile(health, 99).toFixed(2)} ms; ` +
        `chat p50 under mixed load is ${(chatP50 / percentile(health, 50)).toFixed(1)}× its p50`,
    ];
    console.log(lines.join('\n'));
    const unfinished = [...ingestErrors.byKind.keys()].some((k) => k.startsWith('still '));
    if (lost > 0 || duplicated > 0 || outOfOrder > 0 || unexpected > 0 || unfinished) process.exitCode = 1;
  } finally {
    clearInterval(ticker.sampler);
    clearInterval(ticker.timer);
    await stop();
  }
}

await main();
