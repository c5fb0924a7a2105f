// bench/admin: requests per second and p50/p99 latency for bot reads and writes through the local
// platform, and the share of that time spent in the handler versus the local gateway (from the
// gateway's Server-Timing header). Baseline, in the same run: a bare node:http server answering a
// fixed JSON body, i.e. the floor of one HTTP round trip on this machine. Also GET /health (one
// DynamoDB GetItem in the handler) and the gateway's Server-Timing share of it, beside that one
// GetItem made alone from this process: /health's floor.
//
//   npm run bench:admin            (BENCH_REQUESTS=400 BENCH_CONCURRENCY=1,10 to change the load)

import { type ChildProcess, spawn } from 'node:child_process';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { spawnOwnPlatform } from '../local/spawn.ts';
import { documentClientAt, runtimeOf } from '../test/support/platform.ts';
import { percentile, sortedOf } from './support.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,10').split(',').map(Number);

interface Sample {
  ms: number;
  handlerMs?: number;
  gatewayMs?: number;
}

interface Result {
  name: string;
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  handlerShare?: number;
}

function serverTiming(header: string | null, name: string): number | undefined {
  const match = header && new RegExp(`${name};dur=([0-9.]+)`).exec(header);
  return match ? Number(match[1]) : undefined;
}

async function timed(url: string, init: RequestInit): Promise<Sample> {
  const started = performance.now();
  const response = await fetch(url, init);
  await response.arrayBuffer();
  const ms = performance.now() - started;
  if (response.status >= 300) throw new Error(`${init.method ?? 'GET'} ${url} answered ${response.status}`);
  const timing = response.headers.get('server-timing');
  return { ms, handlerMs: serverTiming(timing, 'handler'), gatewayMs: serverTiming(timing, 'gateway') };
}

/** Runs `total` requests with `concurrency` workers; worker i sends `request(i)`. */
async function load(
  name: string,
  concurrency: number,
  total: number,
  request: (worker: number) => [string, RequestInit],
): Promise<Result> {
  const samples: Sample[] = [];
  let remaining = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (remaining-- > 0) samples.push(await timed(...request(worker)));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const handler = samples.reduce((sum, s) => sum + (s.handlerMs ?? 0), 0);
  const total_ = samples.reduce((sum, s) => sum + s.ms, 0);
  return {
    name,
    concurrency,
    rps: samples.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    handlerShare: samples[0]?.handlerMs === undefined ? undefined : handler / total_,
  };
}

async function startBaseline(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('node:http').createServer((q, s) => { q.resume(); q.on('end', () => {
         s.setHeader('content-type', 'application/json'); s.end('{"bot":{"id":"bot_x","name":"baseline"}}'); }); })
       .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<string>((resolve) =>
    child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim())),
  );
  return { child, url: `http://127.0.0.1:${port}` };
}

/** GET /health and its gateway share, against its one GetItem alone from here (ms, sorted). */
async function healthAgainstGetItem(baseUrl: string, dataDir: string) {
  const db = documentClientAt(dataDir);
  const table = runtimeOf(dataDir).env.TENANTS_TABLE;
  const samples: Sample[] = [];
  const getItemMs: number[] = [];
  // Taken in turns, so that both see DynamoDB Local equally warm.
  for (let i = 0; i < REQUESTS; i++) {
    samples.push(await timed(`${baseUrl}/health`, { method: 'GET' }));
    const started = performance.now();
    await db.send(new GetCommand({ TableName: table, Key: { pk: 'HEALTH', sk: 'HEALTH' } }));
    getItemMs.push(performance.now() - started);
  }
  db.destroy();
  const health = sortedOf(samples.map((s) => s.ms));
  const gateway = sortedOf(samples.map((s) => s.gatewayMs ?? Number.NaN));
  const getItem = sortedOf(getItemMs);
  const at = (sorted: number[], p: number) => percentile(sorted, p).toFixed(2).padStart(6);
  const over = percentile(health, 50) - percentile(getItem, 50);
  return [
    `GET /health                          p50 ${at(health, 50)} ms   p99 ${at(health, 99)} ms`,
    `  its gateway share (Server-Timing)  p50 ${at(gateway, 50)} ms   p99 ${at(gateway, 99)} ms`,
    `  floor: its one GetItem, from here  p50 ${at(getItem, 50)} ms   p99 ${at(getItem, 99)} ms`,
    `  /health over its GetItem (p50):        ${over.toFixed(2)} ms`,
  ];
}

async function main() {
  const platform = await spawnOwnPlatform({ name: 'bench-admin' });
  const { operatorKey } = platform;
  const baseline = await startBaseline();
  try {
    const json = (key: string, body?: unknown): RequestInit => ({
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const created = (await (
      await fetch(`${platform.baseUrl}/admin/tenants`, json(operatorKey, { name: 'Bench' }))
    ).json()) as { apiKey: string };
    const key: string = created.apiKey;
    // One bot per worker, the warm-up's four included.
    const maxWorkers = Math.max(4, ...CONCURRENCY);
    const bots: string[] = [];
    for (let i = 0; i < maxWorkers; i++) {
      const res = (await (
        await fetch(
          `${platform.baseUrl}/admin/bots`,
          json(key, { name: `Bot ${i}`, persona: 'x'.repeat(500) }),
        )
      ).json()) as { bot: { id: string } };
      bots.push(res.bot.id);
    }
    const read = (worker: number): [string, RequestInit] => [
      `${platform.baseUrl}/admin/bots/${bots[worker]}`,
      json(key),
    ];
    let version = 0;
    const write = (worker: number): [string, RequestInit] => [
      `${platform.baseUrl}/admin/bots/${bots[worker]}`,
      { ...json(key, { description: `v${version++}` }), method: 'PATCH' },
    ];
    const floor = (): [string, RequestInit] => [`${baseline.url}/`, { method: 'GET' }];

    // Warm up: handler cold start, DynamoDB Local's JIT, connection pools.
    await load('warmup', 4, 200, read);
    await load('warmup', 4, 100, write);

    for (let i = 0; i < 50; i++) await timed(`${platform.baseUrl}/health`, { method: 'GET' });
    const health = await healthAgainstGetItem(platform.baseUrl, platform.dataDir);

    const results: Result[] = [];
    for (const c of CONCURRENCY) {
      results.push(await load('baseline (bare node:http)', c, REQUESTS, floor));
      results.push(await load('GET /admin/bots/{botId}', c, REQUESTS, read));
      results.push(await load('PATCH /admin/bots/{botId}', c, Math.round(REQUESTS / 2), write));
    }

    console.log(`bench/admin — ${REQUESTS} requests per run, Node ${process.version}, ${platform.baseUrl}`);
    console.log('');
    console.log(
      'scenario                      conc      req/s   p50 ms   p99 ms   p50 vs baseline   in handler',
    );
    for (const r of results) {
      const base = results.find((b) => b.concurrency === r.concurrency && b.name.startsWith('baseline'));
      const ratio = base && r !== base ? `${(r.p50 / base.p50).toFixed(1)}x` : '—';
      const share = r.handlerShare === undefined ? '—' : `${(r.handlerShare * 100).toFixed(0)} %`;
      console.log(
        `${r.name.padEnd(29)} ${String(r.concurrency).padStart(4)} ${r.rps.toFixed(0).padStart(10)} ${r.p50.toFixed(2).padStart(8)} ${r.p99
          .toFixed(2)
          .padStart(8)} ${ratio.padStart(17)} ${share.padStart(12)}`,
      );
    }
    console.log('');
    console.log(
      '"in handler" = handler time / client-observed time (Server-Timing); the rest is the local gateway,',
    );
    console.log(
      'HTTP and the client. Handler time includes its DynamoDB Local calls (auth read, item read/write).',
    );
    console.log('');
    console.log(health.join('\n'));
  } finally {
    baseline.child.kill();
    await platform.stop();
  }
}

await main();
