// What the benchmarks share: percentiles, models that answer at once, a bare HTTP round trip.

import { readdirSync, readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnOwnPlatform } from '../local/spawn.ts';
import { signedMetaRequest, telegramRequest, telegramText, whatsappText } from '../test/support/channels.ts';
import { startGraphServer } from '../test/support/wire/graph-server.ts';
import { startOpenAIChatServer } from '../test/support/wire/openai-chat-server.ts';
import { startOpenAIServer } from '../test/support/wire/openai-server.ts';
import { DEFAULT_TELEGRAM_TOKEN, startTelegramServer } from '../test/support/wire/telegram-server.ts';

/** The `p`th percentile of sorted values. */
export const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
export const sortedOf = (values: number[]) => [...values].sort((a, b) => a - b);
export const median = (values: number[]) => percentile(sortedOf(values), 50);

/**
 * OpenAI-compatible models that answer at once, one base URL for both of the test suite's wire
 * servers: embeddings to one, chat completions to the other (its `chat` is there to set answers).
 */
export async function zeroLatencyModels(apiKey: string) {
  const [embeddings, chat] = await Promise.all([
    startOpenAIServer({ apiKey }),
    startOpenAIChatServer({ apiKey }),
  ]);
  const router = createServer((req, res) => {
    const target = new URL(req.url?.startsWith('/v1/embeddings') ? embeddings.baseURL : chat.baseURL);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => router.listen(0, '127.0.0.1', resolve));
  const baseURL = `http://127.0.0.1:${(router.address() as AddressInfo).port}/v1`;
  return {
    baseURL,
    chat,
    /** The wire servers keep every request; the benches need none of them. */
    forget: () => {
      (embeddings.requests as unknown[]).length = 0;
      (chat.requests as unknown[]).length = 0;
    },
    close: async () => {
      router.closeAllConnections();
      await new Promise((resolve) => router.close(resolve));
      await Promise.all([embeddings.close(), chat.close()]);
    },
  };
}

/** A bare node:http server answering a small JSON body: one HTTP round trip on this machine. */
export async function bareHttp() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"reply":"ok"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Calls a platform's API with a key; anything but 2xx throws with the answer. */
export function apiCaller(baseUrl: string) {
  return async (path: string, key: string, body?: unknown, method = body ? 'POST' : 'GET') => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    // biome-ignore lint/suspicious/noExplicitAny: the benches read a few fields of the API's answers.
    return response.json() as Promise<Record<string, any>>;
  };
}

/**
 * Builds one-message deliveries as Telegram and WhatsApp post them, signed (Telegram's secret
 * token, Meta's X-Hub-Signature-256), each with a new platform message id.
 */
export function textDeliveries(options: {
  secretToken: string;
  phoneNumberId: string;
  appSecret: string;
  /** Makes WhatsApp message ids unique across runs sharing a platform. */
  idPrefix: string;
}) {
  let next = 1;
  return (
    channel: 'telegram' | 'whatsapp',
    user: number,
    text: string,
  ): { body: string; headers: Record<string, string> } => {
    const id = next++;
    return channel === 'telegram'
      ? telegramRequest(telegramText({ updateId: id, chatId: user, text }), options.secretToken)
      : signedMetaRequest(
          whatsappText({
            phoneNumberId: options.phoneNumberId,
            from: String(user),
            id: `wamid.${options.idPrefix}${id}`,
            text,
          }),
          options.appSecret,
        );
  };
}

const BENCH_APP_SECRET = `${'b'.repeat(28)}e7c4`;

/**
 * A platform of its own for the channel benches: zero-latency models (the reply names the
 * message it answers: `Re: <text>`), Telegram and Graph API wire servers, a tenant with limits
 * raised, and a bot connected to Telegram and WhatsApp. `stop()` stops all of it.
 */
export async function channelBench(name: string, plan: Record<string, number> = {}) {
  const apiKey = 'sk-bench-zero-latency';
  const [models, telegram, graph] = await Promise.all([
    zeroLatencyModels(apiKey),
    startTelegramServer(),
    startGraphServer(),
  ]);
  models.chat.answerFor = (question) => `Re: ${question}`;
  const platform = await spawnOwnPlatform({
    name,
    env: {
      LOG_LEVEL: 'WARN',
      EMBEDDING_PROVIDER: 'openai',
      OPENAI_BASE_URL: models.baseURL,
      OPENAI_API_KEY: apiKey,
      TELEGRAM_API_BASE_URL: telegram.url,
      META_GRAPH_BASE_URL: graph.url,
      PUBLIC_BASE_URL: 'https://bots.example.com',
    },
  });
  const stop = async () => {
    await platform.stop();
    await Promise.all([models.close(), telegram.close(), graph.close()]);
  };
  try {
    const call = apiCaller(platform.baseUrl);
    const tenant = await call('/admin/tenants', platform.operatorKey, {
      name: 'Bench',
      plan: { monthlyMessages: 1_000_000_000, monthlyTokens: 1_000_000_000_000, ...plan },
    });
    const key: string = tenant.apiKey;
    const bot = await call('/admin/bots', key, {
      name: 'Front desk',
      model: { provider: 'openai', id: 'gpt-4o-mini' },
      // No documents: without this the bot abstains with its no-answer message and the model
      // (whose `Re: <text>` the accounting matches) is never called.
      retrieval: { abstain: false },
      rateLimits: { perMinute: 100_000, perSecond: 10_000, perUserPerMinute: 10_000 },
    });
    const botId: string = bot.bot.id;
    await call(`/admin/bots/${botId}/channels/telegram`, key, { botToken: DEFAULT_TELEGRAM_TOKEN }, 'PUT');
    const whatsapp = graph.account('whatsapp');
    await call(
      `/admin/bots/${botId}/channels/whatsapp`,
      key,
      {
        phoneNumberId: whatsapp.id,
        accessToken: whatsapp.token,
        appSecret: BENCH_APP_SECRET,
        verifyToken: 'bench',
      },
      'PUT',
    );
    const delivery = textDeliveries({
      secretToken: telegram.webhookOf(DEFAULT_TELEGRAM_TOKEN)?.secretToken ?? '',
      phoneNumberId: whatsapp.id,
      appSecret: BENCH_APP_SECRET,
      idPrefix: name,
    });
    return { platform, models, telegram, graph, call, key, botId, delivery, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface SentReply {
  readonly to: string;
  readonly text: string;
}

/**
 * The replies that reached the channel benches' wire servers, and when each arrived: sampled
 * every few milliseconds between start() and stop() (the wire servers do not time them).
 */
export function replyTracker(servers: {
  telegram: { sent: readonly SentReply[] };
  graph: { sent: readonly SentReply[] };
}) {
  const { telegram, graph } = servers;
  const arrivedAt = new Map<string, number>();
  let seenTelegram = 0;
  let seenGraph = 0;
  let sampler: NodeJS.Timeout | undefined;
  const sample = () => {
    const now = performance.now();
    for (; seenTelegram < telegram.sent.length; seenTelegram++)
      arrivedAt.set(telegram.sent[seenTelegram]?.text ?? '', now);
    for (; seenGraph < graph.sent.length; seenGraph++) arrivedAt.set(graph.sent[seenGraph]?.text ?? '', now);
  };
  return {
    arrivedAt,
    count: () => telegram.sent.length + graph.sent.length,
    received: (): SentReply[] => [...telegram.sent, ...graph.sent],
    start() {
      sampler = setInterval(sample, 5);
    },
    /** Stops sampling, after one last sample. */
    stop() {
      clearInterval(sampler);
      sample();
    },
  };
}

/**
 * The accounting of replies (`Re: <question>`) to messages `u<user> m<n>` posted at `sentAt`:
 * questions never answered, answered more than once, answered out of each user's order, and
 * answers to nothing that was sent; and post-to-reply times, with when the last reply arrived.
 */
export function accountReplies(
  received: readonly SentReply[],
  sentAt: ReadonlyMap<string, number>,
  arrivedAt: ReadonlyMap<string, number>,
) {
  const counts = new Map<string, number>();
  const replyMs: number[] = [];
  const lastOfUser = new Map<string, number>();
  let outOfOrder = 0;
  let lastReplyAt = Number.NEGATIVE_INFINITY;
  for (const { to, text } of received) {
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
  return {
    lost: [...sentAt.keys()].filter((q) => !counts.has(q)).length,
    answeredTwice: [...counts.values()].filter((n) => n > 1).length,
    outOfOrder,
    unexpected: [...counts.keys()].filter((q) => !sentAt.has(q)).length,
    replyMs,
    lastReplyAt,
  };
}

/** Linux's clock ticks per second (`getconf CLK_TCK`), the unit of /proc's CPU times. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The CPU time (user and system, ms) a process (`own`) and every descendant of it (`all`: with the
 * platform's emulators, DynamoDB Local's JVM, …) have used so far, from /proc.
 */
export function cpuMsOfTree(pid: number): { own: number; all: number } {
  const parents = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command's closing parenthesis: state, ppid, … utime (12th), stime (13th).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
      ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]));
    } catch {
      // The process ended while being read.
    }
  }
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parents) {
      if (tree.has(parent) && !tree.has(child)) {
        tree.add(child);
        grew = true;
      }
    }
  }
  const total = [...tree].reduce((sum, member) => sum + (ticks.get(member) ?? 0), 0);
  const ms = (count: number) => (count * 1000) / CLOCK_TICKS_PER_SECOND;
  return { own: ms(ticks.get(pid) ?? 0), all: ms(total) };
}
