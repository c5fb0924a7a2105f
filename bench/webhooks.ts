// bench/webhooks: how fast the platform takes in messaging-channel deliveries, and how many it
// answers per second, through the local platform, with every reply accounted for.
//
// Telegram and WhatsApp deliveries in their own formats (Telegram's secret token, Meta's
// X-Hub-Signature-256 over the raw bytes) are posted to the webhooks; replies go out through the
// real clients to the test suite's Telegram and Graph API wire servers, and the bot's model is an
// OpenAI-compatible wire server that answers at once (so every millisecond is the platform's).
// Limits are raised so nothing is refused.
//
// It prints:
//   - acknowledgement latency of a webhook POST, p50/p99, one at a time and 10 at a time, while
//     the reply worker answers the messages acknowledged before (as in production, but here on
//     the same two cores and the one DynamoDB Local), against baselines in the same run: a bare
//     node:http round trip, the platform's GET /health (the gateway and a function, no channel
//     work), and the delivery's own AWS calls made alone from this process while idle;
//   - sustained throughput: BENCH_MESSAGES messages from BENCH_USERS users on both channels posted
//     by BENCH_CONCURRENCY senders, each user's messages in order, plus 10 % re-deliveries of
//     messages already sent: messages taken in per second, replies delivered per second (first
//     post to last reply), and the time from a post to its reply (p50/p99);
//   - the accounting: replies lost, duplicated (a re-delivery answered, or a message answered
//     twice) and out of order per user, all of which must be 0. (The re-deliveries come within the
//     queue's 5-minute de-duplication; later ones, caught by the reply worker's send record, are
//     the integration tests'.)
//
//   npm run bench:webhooks     (BENCH_MESSAGES=1000 BENCH_USERS=50 BENCH_CONCURRENCY=20)

import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { CreateQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClientAt, runtimeOf, sqsClientAt } from '../test/support/platform.ts';
import { accountReplies, bareHttp, channelBench, percentile, replyTracker, sortedOf } from './support.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1000);
const USERS = Number(process.env.BENCH_USERS ?? 50);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const ACK_SAMPLES = Number(process.env.BENCH_ACKS ?? 300);

type Channel = 'telegram' | 'whatsapp';
/** Users are numbered from a phone number (WhatsApp users are phone numbers; Telegram takes any id). */
const PHONE = 4915_100_000_000;

const fmt = (value: number) => value.toFixed(2).padStart(8);

type Bench = Awaited<ReturnType<typeof channelBench>>;
type Delivery = { body: string; headers: Record<string, string> };
type Post = (channel: Channel, d: Delivery) => Promise<{ ms: number; queued: number }>;

async function main() {
  const bare = await bareHttp();
  const bench = await channelBench('bench-webhooks');
  const { platform, models, telegram, graph, delivery, stop } = bench;
  try {
    const webhooks = webhookPoster(platform.baseUrl, bench.botId);
    const { post } = webhooks;
    const replies = replyCounter(bench);

    // Warm up every path (the functions' first imports, the channel key, the clients).
    for (const channel of ['telegram', 'whatsapp'] as const)
      await post(channel, delivery(channel, PHONE, 'warm up'));
    await replies.waitFor(2);

    // 1. Acknowledgement latency, against the baselines.
    const bareMs = await timed(ACK_SAMPLES, 1, async () => {
      const started = performance.now();
      await (await fetch(bare.url, { method: 'POST', body: '{}' })).text();
      return performance.now() - started;
    });
    const healthMs = await timed(ACK_SAMPLES, 1, async () => {
      const started = performance.now();
      await (await fetch(`${platform.baseUrl}/health`)).text();
      return performance.now() - started;
    });
    const callsAloneMs = await deliveryCallsAlone(platform.dataDir);
    const commitMs = fauxqsCommitAlone(platform.dataDir);
    const ackRuns: { label: string; ms: number[] }[] = [];
    for (const concurrency of [1, 10]) {
      const before = replies.count();
      const ms = await timed(ACK_SAMPLES, concurrency, async (i) => {
        const channel: Channel = i % 2 === 0 ? 'telegram' : 'whatsapp';
        return (await post(channel, delivery(channel, PHONE + 1_000 + i, `ack ${concurrency}/${i}`))).ms;
      });
      ackRuns.push({ label: `${concurrency} at a time`, ms });
      await replies.waitFor(before + ACK_SAMPLES);
    }

    // 2. Sustained load, then 3. the accounting: every message answered once, each user's in order.
    telegram.reset();
    graph.reset();
    models.forget();
    const load = await sustainedLoad(bench, post, replies.waitFor);
    const { lost, answeredTwice, outOfOrder, replyMs } = accountReplies(
      load.received,
      load.sentAt,
      load.arrivedAt,
    );
    const { takenIn, allAnswered, redelivered } = load;

    const lines = [
      `bench/webhooks — local platform, Node ${process.version}; Telegram and WhatsApp deliveries, zero-latency model`,
      '',
      'acknowledgement of a webhook POST (the connection read, signature checked, parsed, queued):',
      `  baseline: bare node:http round trip      p50 ${fmt(percentile(bareMs, 50))} ms   p99 ${fmt(percentile(bareMs, 99))} ms`,
      `  baseline: GET /health through the gateway p50 ${fmt(percentile(healthMs, 50))} ms   p99 ${fmt(percentile(healthMs, 99))} ms`,
      `  AWS calls per delivery: ${webhooks.callsPerDelivery()}; KMS none here (in AWS a Decrypt per connection per container every 5 minutes, from the data-key cache)`,
      `  baseline: those calls alone, idle       p50 ${fmt(percentile(callsAloneMs, 50))} ms   p99 ${fmt(percentile(callsAloneMs, 99))} ms`,
      `  emulator floor: one fauxqs commit      p50 ${fmt(percentile(commitMs, 50))} ms   p99 ${fmt(percentile(commitMs, 99))} ms   (SQLite WAL with fsync, on the platform's one event loop: 2 per send, 1 per receive, 1 per delete)`,
      ...ackRuns.map(
        ({ label, ms }) =>
          `  webhook POST, ${label.padEnd(14)}           p50 ${fmt(percentile(ms, 50))} ms   p99 ${fmt(percentile(ms, 99))} ms` +
          `   (${(percentile(ms, 50) / percentile(callsAloneMs, 50)).toFixed(1)}× the calls alone)`,
      ),
      '',
      `sustained: ${MESSAGES} messages from ${USERS} users (${CONCURRENCY} senders, each user in order), ${redelivered} re-deliveries mixed in:`,
      `  taken in:          ${(MESSAGES / (takenIn / 1000)).toFixed(1)} messages/s (${(takenIn / 1000).toFixed(1)} s)`,
      `  answered:          ${(MESSAGES / (allAnswered / 1000)).toFixed(1)} replies/s (first post to last reply, ${(allAnswered / 1000).toFixed(1)} s)`,
      `  post to reply:     p50 ${fmt(percentile(sortedOf(replyMs), 50))} ms   p99 ${fmt(percentile(sortedOf(replyMs), 99))} ms`,
      `  replies lost: ${lost}   duplicated: ${answeredTwice}   out of order: ${outOfOrder}`,
    ];
    console.log(lines.join('\n'));
    if (lost > 0 || answeredTwice > 0 || outOfOrder > 0) process.exitCode = 1;
  } finally {
    await stop();
    await bare.close();
  }
}

/** Posts deliveries to the bot's webhooks, keeping the AWS calls of one that queued a message. */
function webhookPoster(base: string, botId: string) {
  /** The AWS calls of a delivery that queued one message, from the gateway's Server-Timing. */
  let callsPerDelivery = '';
  const post: Post = async (channel, d) => {
    const started = performance.now();
    const response = await fetch(`${base}/webhooks/${channel}/${botId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...d.headers },
      body: d.body,
    });
    const answer = (await response.json()) as { queued?: number };
    const timing = response.headers.get('server-timing') ?? '';
    const calls = (service: string) => new RegExp(`${service};desc="([^"]*)"`).exec(timing)?.[1];
    if (answer.queued === 1) callsPerDelivery = `DynamoDB ${calls('dynamodb')}, SQS ${calls('sqs')}`;
    if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
    return { ms: performance.now() - started, queued: answer.queued ?? 0 };
  };
  return { post, callsPerDelivery: () => callsPerDelivery };
}

/** `times` runs of `one` over `concurrency` workers: their milliseconds, sorted. */
async function timed(times: number, concurrency: number, one: (i: number) => Promise<number>) {
  const samples: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < times) samples.push(await one(next++));
    }),
  );
  return sortedOf(samples);
}

/** Replies that reached the wire servers, and waiting until there are so many. */
function replyCounter({ telegram, graph }: Bench) {
  const count = () => telegram.sent.length + graph.sent.length;
  const waitFor = async (wanted: number, timeoutMs = 300_000) => {
    const deadline = Date.now() + timeoutMs;
    while (count() < wanted) {
      if (Date.now() > deadline)
        throw new Error(`only ${count()} of ${wanted} replies after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { count, waitFor };
}

/** The same AWS calls a delivery makes, alone and idle, from this process: their floor (ms, sorted). */
async function deliveryCallsAlone(dataDir: string): Promise<number[]> {
  const runtime = runtimeOf(dataDir);
  const db = documentClientAt(dataDir);
  const sqs = sqsClientAt(dataDir);
  const table = runtime.env.TENANTS_TABLE ?? '';
  // A FIFO queue of its own that nothing consumes, in the same fauxqs.
  const { QueueUrl: baselineQueue } = await sqs.send(
    new CreateQueueCommand({ QueueName: 'bench-baseline.fifo', Attributes: { FifoQueue: 'true' } }),
  );
  const ms = await timed(ACK_SAMPLES, 1, async (i) => {
    const started = performance.now();
    // The connection, by the bot id (a consistent read), then the message to the FIFO queue.
    await db.send(
      new GetCommand({
        TableName: table,
        Key: { pk: 'BOT#bench', sk: 'CHANNEL#bench' },
        ConsistentRead: true,
      }),
    );
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: baselineQueue,
        Entries: [
          { Id: '0', MessageBody: '{}', MessageGroupId: `bench-${i}`, MessageDeduplicationId: `bench-${i}` },
        ],
      }),
    );
    return performance.now() - started;
  });
  db.destroy();
  sqs.destroy();
  return ms;
}

/**
 * One commit as fauxqs makes one (node:sqlite, WAL, the default full sync) on the platform's disk:
 * ms, sorted. Every SQS write fauxqs persists waits for such commits, synchronously.
 */
function fauxqsCommitAlone(dataDir: string): number[] {
  const db = new DatabaseSync(join(dataDir, 'bench-commit.db'));
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body TEXT)');
  const put = db.prepare('INSERT OR REPLACE INTO messages VALUES (?, ?)');
  const ms: number[] = [];
  for (let i = 0; i < ACK_SAMPLES; i++) {
    const started = performance.now();
    put.run(i % 10, '{}');
    ms.push(performance.now() - started);
  }
  db.close();
  return sortedOf(ms);
}

/**
 * Sustained load: each user's messages in order from one sender, re-deliveries mixed in; when
 * each message was posted and when each reply reached its wire server.
 */
async function sustainedLoad(bench: Bench, post: Post, waitForReplies: (count: number) => Promise<void>) {
  const { delivery } = bench;
  const sentAt = new Map<string, number>();
  const userOf = (u: number) => PHONE + 100_000 + u;
  const channelOf = (u: number): Channel => (u % 2 === 0 ? 'telegram' : 'whatsapp');
  const perUser = Math.ceil(MESSAGES / USERS);
  const posted: { channel: Channel; d: Delivery }[] = [];
  let redelivered = 0;
  const started = performance.now();
  // When each reply reached its wire server.
  const tracker = replyTracker(bench);
  tracker.start();
  let nextUser = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, USERS) }, async () => {
      for (let u = nextUser++; u < USERS; u = nextUser++) {
        const channel = channelOf(u);
        for (let m = 0; m < perUser && u * perUser + m < MESSAGES; m++) {
          const text = `u${userOf(u)} m${m}`;
          const d = delivery(channel, userOf(u), text);
          sentAt.set(text, performance.now());
          await post(channel, d);
          posted.push({ channel, d });
          // Every tenth message, the platform delivers an earlier one again.
          if (m % 10 === 9) {
            const earlier = posted[Math.floor(Math.random() * posted.length)];
            if (earlier) {
              redelivered++;
              await post(earlier.channel, earlier.d);
            }
          }
        }
      }
    }),
  );
  const takenIn = performance.now() - started;
  await waitForReplies(MESSAGES);
  // Anything duplicated would arrive right after the rest: give it a moment to show.
  const allAnswered = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  tracker.stop();
  return {
    sentAt,
    received: tracker.received(),
    arrivedAt: tracker.arrivedAt,
    takenIn,
    allAnswered,
    redelivered,
  };
}

await main();
