import { describe, expect, test } from '@jest/globals';
import { clipChars, clipUtf8 } from '../../shared/adapters/embedders/text.ts';
import { backoffDelay, mapWithConcurrency, parseRetryAfter, withRetry } from '../../shared/adapters/retry.ts';

class Busy extends Error {}
class Broken extends Error {}

const policy = { retries: 3, baseMs: 1, maxMs: 4, isRetryable: (e: unknown) => e instanceof Busy };

describe('withRetry', () => {
  test('retries retryable errors, then returns the first success', async () => {
    let calls = 0;
    const result = await withRetry(async (attempt) => {
      calls++;
      if (attempt < 2) throw new Busy();
      return 'ok';
    }, policy);
    expect(result).toBe('ok');
    expect(calls).toBe(3);
  });

  test('throws a non-retryable error at once, and the last error once retries run out', async () => {
    let calls = 0;
    const broken = new Broken('no');
    await expect(
      withRetry(async () => {
        calls++;
        throw broken;
      }, policy),
    ).rejects.toBe(broken);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      withRetry(async () => {
        calls++;
        throw new Busy(`busy ${calls}`);
      }, policy),
    ).rejects.toThrow('busy 4');
    expect(calls).toBe(4);
  });

  test('full jitter: waits are uniform below a doubling ceiling capped at maxMs', () => {
    const opts = { baseMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { ...opts, random: () => 0.999999 }))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelay(3, { ...opts, random: () => 0 })).toBe(0);
  });

  test('waits at least what retry-after asks, and gives up when that overruns the deadline', async () => {
    const waits: number[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        if (++calls === 1) throw new Busy();
        return calls;
      },
      { ...policy, retryAfterMs: () => 30, onRetry: ({ delayMs }) => waits.push(delayMs) },
    );
    expect(waits).toEqual([30]);

    let now = 0;
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          now += 100;
          throw new Busy();
        },
        { ...policy, retries: 10, deadlineMs: 1_000, retryAfterMs: () => 2_000, now: () => now },
      ),
    ).rejects.toBeInstanceOf(Busy);
    expect(calls).toBe(1);
  });

  test('an abort signal stops the waiting', async () => {
    const controller = new AbortController();
    const pending = withRetry(
      async () => {
        throw new Busy();
      },
      { ...policy, baseMs: 10_000, maxMs: 10_000, random: () => 1, signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('stop')), 5);
    await expect(pending).rejects.toThrow('stop');
  });
});

describe('helpers', () => {
  test('parseRetryAfter reads seconds, HTTP dates and retry-after-ms', () => {
    expect(parseRetryAfter('2')).toBe(2_000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter('20', '150')).toBe(150);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), undefined, () => 4_000)).toBe(6_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  test('mapWithConcurrency keeps order and bounds calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapWithConcurrency([5, 1, 4, 2, 3, 0], 2, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n * 3));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0]);
    expect(most).toBe(2);
    expect(await mapWithConcurrency([], 4, async () => 1)).toEqual([]);
  });

  test('clipping never splits a character', () => {
    expect(clipChars('ab😀c', 3)).toBe('ab');
    expect(clipChars('abc', 5)).toBe('abc');
    expect(clipUtf8('aé😀b', 3)).toBe('aé');
    expect(clipUtf8('aé😀b', 6)).toBe('aé');
    expect(clipUtf8('aé😀b', 7)).toBe('aé😀');
    expect(Buffer.byteLength(clipUtf8('日本語'.repeat(5_000), 8_191))).toBeLessThanOrEqual(8_191);
  });
});
