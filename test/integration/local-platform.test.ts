// `npm start` as a user runs it (node --import tsx local/start.ts, as a child process): a busy
// port, one platform per data dir, data kept across a restart, and no process left behind after
// SIGTERM or even SIGKILL.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { createClients } from '../../local/aws.ts';
import { platformEnv, spawnPlatform } from '../../local/spawn.ts';
import type { RuntimeInfo } from '../../local/start.ts';
import { api, REPO_ROOT, TEST_OUTPUT_DIR } from '../support/platform.ts';

/** Whether a process exists and is not a zombie waiting to be reaped. */
function running(pid: number | undefined): boolean {
  if (!pid || pid < 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/** Runs local/start.ts to its exit; for the runs that must fail fast. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
      cwd: REPO_ROOT,
      env: platformEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`local/start.ts did not exit. Output:\n${output}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the platform started by the test run', () => {
  it('answers an unknown route with the error envelope, a request id and its timing', async () => {
    const res = await api('/definitely/not/a/route');
    expect(res.status).toBe(404);
    expect(res.json).toEqual({
      error: { code: 'not_found', message: expect.any(String), requestId: res.headers['x-request-id'] },
    });
    expect(res.headers['x-amzn-requestid']).toBe(res.headers['x-request-id']);
    expect(res.headers['server-timing']).toMatch(/gateway;dur=/);
  });
});

describe('npm start', () => {
  it('exits 1 with a clear message when the port is taken, before touching anything', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = join(tmpdir(), `parley-never-created-${process.pid}-${port}`);
    try {
      const { code, output } = await runToExit({ PORT: String(port), PARLEY_DATA_DIR: dataDir });
      expect(code).toBe(1);
      expect(output).toContain(
        `Port ${port} is already in use; set PORT to another port (e.g. PORT=${port + 1} npm start)`,
      );
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('keeps its data across a restart and leaves no process behind after SIGTERM or SIGKILL', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'parley-restart-'));
    const env = {
      PORT: '0',
      PARLEY_DATA_DIR: dataDir,
      PARLEY_OPERATOR_KEY: '',
      PARLEY_PARENT_PID: String(process.pid),
    };
    const runtime = () => JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeInfo;
    const keyOf = (output: string) => /Operator key: (\S+)/.exec(output)?.[1];
    const started: {
      child: { pid?: number; exitCode: number | null; kill(signal: NodeJS.Signals): boolean };
    }[] = [];
    try {
      // First run: a generated operator key, kept in the data dir for the owner only.
      const first = await spawnPlatform({ env, logFile: join(TEST_OUTPUT_DIR, 'platform-restart-1.log') });
      started.push(first);
      const key = keyOf(first.output());
      expect(key).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(readFileSync(join(dataDir, 'operator-key'), 'utf8').trim()).toBe(key);
      expect(statSync(join(dataDir, 'operator-key')).mode & 0o777).toBe(0o600);

      const one = runtime();
      expect(one.pid).toBe(first.child.pid);
      expect(running(one.dynamodbPid)).toBe(true);
      const clients = createClients(one.endpoints);
      await clients.dynamodb.send(
        new PutItemCommand({
          TableName: one.env.TENANTS_TABLE,
          Item: { pk: { S: 'RESTART' }, sk: { S: 'TEST' }, value: { S: 'kept' } },
        }),
      );
      await clients.sqs.send(
        // A dead-letter queue: no function consumes it, so the message waits for us.
        new SendMessageCommand({
          QueueUrl: `${one.env.INGEST_QUEUE_URL}-dlq`,
          MessageBody: 'queued before restart',
        }),
      );
      await clients.s3.send(
        new PutObjectCommand({
          Bucket: one.env.DOCUMENTS_BUCKET,
          Key: 'kept.txt',
          Body: 'object before restart',
        }),
      );
      clients.destroy();

      // A second platform on the same data dir is refused while the first runs.
      const rival = await runToExit(env);
      expect(rival.code).toBe(1);
      expect(rival.output).toContain(`Another Parley platform (pid ${one.pid}`);

      // SIGTERM: a clean exit, DynamoDB Local's Java and its watchdog gone with it.
      const exited = new Promise<number | null>((resolve) =>
        first.child.once('exit', (code) => resolve(code)),
      );
      first.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(running(one.dynamodbPid)).toBe(false);
      await waitUntil(() => !running(one.watchdogPid), 3000, 'the watchdog exiting');
      expect(existsSync(join(dataDir, 'runtime.json'))).toBe(false);

      // Second run on the same data dir: same key, same data.
      const second = await spawnPlatform({ env, logFile: join(TEST_OUTPUT_DIR, 'platform-restart-2.log') });
      started.push(second);
      expect(keyOf(second.output())).toBe(key);
      const two = runtime();
      const again = createClients(two.endpoints);
      const item = await again.dynamodb.send(
        new GetItemCommand({
          TableName: two.env.TENANTS_TABLE,
          Key: { pk: { S: 'RESTART' }, sk: { S: 'TEST' } },
        }),
      );
      expect(item.Item?.value?.S).toBe('kept');
      const received = await again.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: `${two.env.INGEST_QUEUE_URL}-dlq`, WaitTimeSeconds: 1 }),
      );
      expect(received.Messages?.map((message) => message.Body)).toEqual(['queued before restart']);
      const object = await again.s3.send(
        new GetObjectCommand({ Bucket: two.env.DOCUMENTS_BUCKET, Key: 'kept.txt' }),
      );
      expect(await object.Body?.transformToString()).toBe('object before restart');
      again.destroy();

      // SIGKILL gives the platform no chance to clean up: the watchdog stops Java.
      const killed = new Promise((resolve) => second.child.once('exit', resolve));
      second.child.kill('SIGKILL');
      await killed;
      await waitUntil(() => !running(two.dynamodbPid), 8000, 'DynamoDB Local stopping after SIGKILL');
    } finally {
      for (const { child } of started) if (child.exitCode === null) child.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
