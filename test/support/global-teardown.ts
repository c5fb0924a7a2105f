// jest global teardown of the integration project: stops the platform started by global-setup.ts
// (SIGTERM, then SIGKILL after 15 s) and removes its data dir.

import { readFileSync, rmSync } from 'node:fs';
import { PLATFORM_FILE, type PlatformInfo } from './platform.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export default async function globalTeardown(): Promise<void> {
  let info: PlatformInfo | undefined;
  try {
    info = JSON.parse(readFileSync(PLATFORM_FILE, 'utf8')) as PlatformInfo;
  } catch {
    return;
  }
  // The child (when this process spawned it) is reaped by Node, so the pid disappears on exit.
  if (alive(info.pid)) process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(info.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive(info.pid)) process.kill(info.pid, 'SIGKILL');
  rmSync(PLATFORM_FILE, { force: true });
  if (!process.env.PARLEY_KEEP_TEST_DATA) rmSync(info.dataDir, { recursive: true, force: true });
}
