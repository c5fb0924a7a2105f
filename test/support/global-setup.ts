// jest global setup of the integration project: starts the local platform once, as a child
// process exactly as `npm start` runs it (fresh data dir, free port, fixed operator key), and
// records where it is in test-output/platform.json for the tests (test/support/platform.ts).

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnPlatform } from '../../local/spawn.ts';
import { PLATFORM_FILE, type PlatformInfo, TEST_OUTPUT_DIR } from './platform.ts';

export default async function globalSetup(): Promise<void> {
  mkdirSync(TEST_OUTPUT_DIR, { recursive: true });
  // The tests' platform is offline whatever the developer's shell holds: no hosted model keys.
  for (const name of [
    'OPENAI_API_KEY',
    'OPENAI_API_KEY_SECRET_ARN',
    'OPENAI_BASE_URL',
    'EMBEDDING_PROVIDER',
  ]) {
    delete process.env[name];
  }
  const logFile = join(TEST_OUTPUT_DIR, 'platform.log');
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'));
  const operatorKey = randomBytes(32).toString('base64url');
  const started = await spawnPlatform({
    logFile,
    env: {
      PORT: '0',
      PARLEY_DATA_DIR: dataDir,
      PARLEY_OPERATOR_KEY: operatorKey,
      LOG_LEVEL: 'DEBUG',
      // PUT /_local/clock: tests move the functions' clock (a session past its TTL).
      PARLEY_TEST_HOOKS: '1',
      // The platform stops by itself if this process dies without a teardown.
      PARLEY_PARENT_PID: String(process.pid),
    },
  });
  const runtime = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as {
    endpoints: PlatformInfo['endpoints'];
    env: PlatformInfo['env'];
  };
  const info: PlatformInfo = {
    baseUrl: started.baseUrl,
    operatorKey,
    dataDir,
    logFile,
    pid: started.child.pid ?? -1,
    endpoints: runtime.endpoints,
    env: runtime.env,
  };
  writeFileSync(PLATFORM_FILE, `${JSON.stringify(info, null, 2)}\n`);
}
