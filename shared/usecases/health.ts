export interface HealthCheck {
  name: string;
  run(): Promise<void>;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: Record<string, { ok: boolean; latencyMs: number; error?: string }>;
}

const CHECK_TIMEOUT_MS = 2000;

/** Runs every dependency check in parallel, each bounded in time, and reports them all. */
export async function checkHealth(checks: readonly HealthCheck[]): Promise<HealthReport> {
  const results = await Promise.all(
    checks.map(async (check) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          check.run(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
              CHECK_TIMEOUT_MS,
            );
          }),
        ]);
        return [check.name, { ok: true, latencyMs: Math.round(performance.now() - started) }] as const;
      } catch (error) {
        const message = error instanceof Error ? error.name : 'failed';
        return [
          check.name,
          { ok: false, latencyMs: Math.round(performance.now() - started), error: message },
        ] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return {
    status: results.every(([, r]) => r.ok) ? 'ok' : 'degraded',
    checks: Object.fromEntries(results),
  };
}
