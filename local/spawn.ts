// Starts the local platform as a child process, exactly as `npm start` runs it, and waits until it
// is ready. Used by the integration tests' global setup and by the benchmarks.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Only node: imports here: jest's global setup loads this file as CommonJS, and the emulator
// packages the platform itself imports are ES-module only.
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const READY = /Parley is running at (http:\/\/\S+)/;
const START_TIMEOUT_MS = 90_000;

export interface StartedPlatform {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly output: () => string;
}

/** The environment a spawned platform gets: the test's, minus jest's NODE_OPTIONS. */
export function platformEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Spawns `node --import tsx local/start.ts` with its output going to `logFile`, and waits for its
 * "Parley is running at" line. Fails with the end of the log if it exits or takes too long.
 */
export async function spawnPlatform(options: {
  env: Record<string, string>;
  logFile: string;
  timeoutMs?: number;
}): Promise<StartedPlatform> {
  const fd = openSync(options.logFile, 'w');
  // PARLEY_PLATFORM_NODE_ARGS: Node flags for the spawned platform, e.g. `--cpu-prof` to profile
  // what a bench drives.
  const nodeArgs = (process.env.PARLEY_PLATFORM_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'local/start.ts'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', fd, fd],
    env: platformEnv(options.env),
  });
  closeSync(fd);
  const output = () => {
    try {
      return readFileSync(options.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const tail = () => output().split('\n').slice(-40).join('\n');
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `exited with ${code ?? signal}`;
  });
  const deadline = Date.now() + (options.timeoutMs ?? START_TIMEOUT_MS);
  for (;;) {
    const match = READY.exec(output());
    if (match?.[1]) return { child, baseUrl: match[1], output };
    if (exit) throw new Error(`The local platform ${exit} before it was ready. Its log:\n${tail()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `The local platform was not ready within ${Math.round((options.timeoutMs ?? START_TIMEOUT_MS) / 1000)} s. Its log:\n${tail()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface OwnPlatform extends StartedPlatform {
  readonly dataDir: string;
  readonly operatorKey: string;
  /** SIGTERM, wait for the exit, remove the data dir. */
  stop(): Promise<void>;
}

/**
 * A platform of its own for a test file or a benchmark: a fresh data dir, a random operator key,
 * a free port, stopping by itself if this process dies; `env` adds to (or overrides) that.
 */
export async function spawnOwnPlatform(options: {
  name: string;
  env?: Record<string, string>;
  logFile?: string;
  /** Start on an earlier platform's data (and with its operator key), as after a crash. */
  reuse?: Pick<OwnPlatform, 'dataDir' | 'operatorKey'>;
}): Promise<OwnPlatform> {
  const dataDir = options.reuse?.dataDir ?? mkdtempSync(join(tmpdir(), `parley-${options.name}-`));
  const operatorKey = options.reuse?.operatorKey ?? randomBytes(32).toString('base64url');
  const started = await spawnPlatform({
    logFile: options.logFile ?? join(dataDir, 'platform.log'),
    env: {
      PORT: '0',
      PARLEY_DATA_DIR: dataDir,
      PARLEY_OPERATOR_KEY: operatorKey,
      PARLEY_PARENT_PID: String(process.pid),
      ...options.env,
    },
  });
  return {
    ...started,
    dataDir,
    operatorKey,
    async stop() {
      if (started.child.exitCode === null && started.child.signalCode === null) {
        const exited = new Promise((resolve) => started.child.once('exit', resolve));
        started.child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
