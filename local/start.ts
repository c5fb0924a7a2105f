// `npm start`: the whole platform on http://127.0.0.1:$PORT (default 3000), data under
// $PARLEY_DATA_DIR (default ./.parley), the operator key from $PARLEY_OPERATOR_KEY or generated once
// and kept in the data dir. Ctrl-C or SIGTERM stops everything, DynamoDB Local's Java included.
// PARLEY_TEST_HOOKS=1 is for tests only: it adds the gateway's clock hook, and takes
// PARLEY_TEST_VISIBILITY_TIMEOUT_SECONDS as every queue's visibility timeout (so a test that kills
// the platform mid-message sees the redelivery in seconds, not the minutes of the real setting).

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseModels } from '../shared/domain/models.ts';
import { type ResourceDefinitions, resources } from '../shared/resources.ts';
import { createLogger, type Logger, parseLogLevel } from './log.ts';
import { type Platform, startPlatform } from './platform.ts';
import { PortInUseError } from './ports.ts';

/** Written while the platform runs, removed at stop: where its emulators are (tools and tests read it). */
export const RUNTIME_FILE = 'runtime.json';
export const OPERATOR_KEY_FILE = 'operator-key';

export interface RuntimeInfo {
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly endpoints: { readonly dynamodb: string; readonly s3: string; readonly sqs: string };
  readonly env: Readonly<Record<string, string>>;
  readonly dynamodbPid: number;
  readonly watchdogPid: number | undefined;
  readonly startedAt: string;
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be a number from 0 to 65535 (0 picks a free port), not "${value}"`);
  }
  return port;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The resource definitions as changed by the test hooks, if any. */
function testDefinitions(): ResourceDefinitions | undefined {
  const seconds = Number(process.env.PARLEY_TEST_VISIBILITY_TIMEOUT_SECONDS);
  if (process.env.PARLEY_TEST_HOOKS !== '1' || !Number.isInteger(seconds) || seconds < 1) return undefined;
  const queues = Object.fromEntries(
    Object.entries(resources.queues).map(([name, queue]) => [
      name,
      { ...queue, visibilityTimeoutSeconds: seconds },
    ]),
  ) as ResourceDefinitions['queues'];
  return { ...resources, queues };
}

/** One platform per data dir: the emulators' databases are not meant to be shared. */
function assertDataDirFree(dataDir: string) {
  const file = join(dataDir, RUNTIME_FILE);
  if (!existsSync(file)) return;
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as Partial<RuntimeInfo>;
    if (typeof info.pid === 'number' && info.pid !== process.pid && isAlive(info.pid)) {
      throw new Error(
        `Another Parley platform (pid ${info.pid}, ${info.url}) is using ${dataDir}; ` +
          'stop it first, or set PARLEY_DATA_DIR to another directory',
      );
    }
  } catch (error) {
    if (error instanceof SyntaxError) return;
    throw error;
  }
}

function operatorKey(dataDir: string): { key: string; source: string } {
  const fromEnv = process.env.PARLEY_OPERATOR_KEY?.trim();
  if (fromEnv) return { key: fromEnv, source: 'PARLEY_OPERATOR_KEY' };
  const file = join(dataDir, OPERATOR_KEY_FILE);
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved) return { key: saved, source: file };
  }
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, source: `${file} (generated)` };
}

async function main() {
  const started = Date.now();
  const logLevel = parseLogLevel(process.env.LOG_LEVEL);
  const logger = createLogger({ level: logLevel });
  const port = parsePort(process.env.PORT);
  // The allow-list of chat models (shared/domain/models.ts): a bad list stops the start, named.
  parseModels(process.env.PARLEY_MODELS);
  const dataDir = resolve(process.env.PARLEY_DATA_DIR || '.parley');

  let platform: Platform | undefined;
  const stop = stopper(logger, dataDir, () => platform);
  watchProcess(logger, stop);

  try {
    platform = await startPlatform({
      dataDir,
      port,
      logger,
      functionLogLevel: logLevel === 'SILENT' ? 'ERROR' : logLevel,
      publicBaseUrl: process.env.PUBLIC_BASE_URL || undefined,
      testHooks: process.env.PARLEY_TEST_HOOKS === '1',
      definitions: testDefinitions(),
      // Both run once the port is ours, before anything else starts.
      beforeStart: () => {
        mkdirSync(dataDir, { recursive: true });
        assertDataDirFree(dataDir);
      },
      operatorKey: () => {
        const { key, source } = operatorKey(dataDir);
        logger.debug('operator key', { source });
        return key;
      },
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof PortInUseError) {
      process.stderr.write(`${message}\n`);
    } else {
      logger.debug('startup failed', { error });
      process.stderr.write(`Parley could not start: ${message}\n`);
    }
    process.exit(1);
  }

  writeRuntimeInfo(platform, dataDir);
  process.stdout.write(
    [
      `Parley is running at ${platform.url}`,
      `Console: ${platform.url}/ (sign in with a tenant key, or the operator key for tenants)`,
      `Operator key: ${platform.env.PARLEY_OPERATOR_KEY}`,
      `Data: ${dataDir} (kept across restarts; delete it to start from scratch)`,
      `Ready in ${((Date.now() - started) / 1000).toFixed(1)} s. Stop with Ctrl-C.`,
      '',
    ].join('\n'),
  );
}

type Stop = (reason: string, exitCode: number) => Promise<void>;

/** Stops the platform once (a second call waits for the first) and exits, within a few seconds whatever hangs. */
function stopper(logger: Logger, dataDir: string, platform: () => Platform | undefined): Stop {
  let stopping: Promise<void> | undefined;
  return (reason, exitCode) => {
    if (stopping) {
      // A second Ctrl-C: stop waiting (DynamoDB Local is killed on exit all the same).
      if (reason === 'SIGINT') process.exit(130);
      return stopping;
    }
    logger.info(`stopping (${reason})`);
    // Whatever hangs, the process ends within a few seconds.
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(exitCode || 1);
    }, 8000).unref();
    stopping = (async () => {
      try {
        await platform()?.stop();
      } catch (error) {
        logger.error('error while stopping', { error });
      }
      rmSync(join(dataDir, RUNTIME_FILE), { force: true });
      process.exit(exitCode);
    })();
    return stopping;
  };
}

/** Stops on signals and when the parent test process is gone; logs what handlers leave unhandled. */
function watchProcess(logger: Logger, stop: Stop): void {
  // Handlers share this process: one that leaves an error unhandled (which would end its Lambda
  // execution environment) must not take the whole platform down.
  process.on('unhandledRejection', (reason) => {
    logger.error('unhandled promise rejection (in Lambda this ends the execution environment)', {
      error: reason instanceof Error ? reason : String(reason),
    });
  });
  process.on('uncaughtException', (error) => {
    logger.error('uncaught exception (in Lambda this ends the execution environment)', { error });
  });
  process.on('SIGINT', () => void stop('SIGINT', 0));
  process.on('SIGTERM', () => void stop('SIGTERM', 0));

  // Tests start the platform as a child; it must not outlive them if they are killed.
  const parentPid = Number(process.env.PARLEY_PARENT_PID);
  if (Number.isInteger(parentPid) && parentPid > 0) {
    setInterval(() => {
      if (!isAlive(parentPid)) void stop(`parent process ${parentPid} is gone`, 0);
    }, 1000).unref();
  }
}

function writeRuntimeInfo(platform: Platform, dataDir: string): void {
  const info: RuntimeInfo = {
    pid: process.pid,
    url: platform.url,
    port: platform.port,
    dataDir,
    endpoints: platform.endpoints,
    env: platform.env,
    dynamodbPid: platform.emulators.dynamodb.pid,
    watchdogPid: platform.emulators.dynamodb.watchdogPid,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(join(dataDir, RUNTIME_FILE), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
}

await main();
