import { describe, expect, it } from '@jest/globals';
import {
  dayOf,
  dayStart,
  daysBetween,
  endUserKey,
  nextPeriodStart,
  periodExpiresAt,
  periodOf,
  rateWindows,
  reachesWarning,
  retryAfterSeconds,
  webEndUsers,
} from '../../shared/domain/limits.ts';

const scope = { tenantId: 'tnt_a', botId: 'bot_b', userKeys: ['u1'] };
const limits = { perSecond: 2, perMinute: 60, perUserPerMinute: 5 };

describe('rate windows', () => {
  it('are keyed by bot and by end user, with second and minute indexes from the clock', () => {
    const now = new Date('2026-03-01T12:34:56.789Z');
    const second = Math.floor(now.getTime() / 1000);
    const minute = Math.floor(second / 60);
    expect(rateWindows(scope, limits, now)).toEqual([
      {
        kind: 'user-minute',
        pk: 'RATE#tnt_a#bot_b#USER#u1',
        sk: `MIN#${minute}`,
        limit: 5,
        endsAtMs: (minute + 1) * 60_000,
        expiresAt: (minute + 3) * 60,
      },
      {
        kind: 'bot-second',
        pk: 'RATE#tnt_a#bot_b',
        sk: `SEC#${second}`,
        limit: 2,
        endsAtMs: (second + 1) * 1000,
        expiresAt: second + 3,
      },
      {
        kind: 'bot-minute',
        pk: 'RATE#tnt_a#bot_b',
        sk: `MIN#${minute}`,
        limit: 60,
        endsAtMs: (minute + 1) * 60_000,
        expiresAt: (minute + 3) * 60,
      },
    ]);
  });

  it('roll over exactly at the boundary', () => {
    const last = rateWindows(scope, limits, new Date('2026-03-01T12:34:59.999Z'));
    const next = rateWindows(scope, limits, new Date('2026-03-01T12:35:00.000Z'));
    for (let i = 0; i < 3; i++) expect(next[i]?.sk).not.toBe(last[i]?.sk);
    const sameSecond = rateWindows(scope, limits, new Date('2026-03-01T12:35:00.999Z'));
    expect(sameSecond.map((w) => w.sk)).toEqual(next.map((w) => w.sk));
  });

  it('say when to retry: the rest of the window, in whole seconds, at least 1', () => {
    const at = (iso: string) => new Date(iso);
    const [user, second, minute] = rateWindows(scope, limits, at('2026-03-01T12:34:00.000Z'));
    if (!user || !second || !minute) throw new Error('three windows expected');
    expect(retryAfterSeconds(minute, at('2026-03-01T12:34:00.000Z'))).toBe(60);
    expect(retryAfterSeconds(minute, at('2026-03-01T12:34:30.000Z'))).toBe(30);
    expect(retryAfterSeconds(minute, at('2026-03-01T12:34:30.001Z'))).toBe(30);
    expect(retryAfterSeconds(minute, at('2026-03-01T12:34:29.999Z'))).toBe(31);
    expect(retryAfterSeconds(minute, at('2026-03-01T12:34:59.999Z'))).toBe(1);
    expect(retryAfterSeconds(second, at('2026-03-01T12:34:00.000Z'))).toBe(1);
    expect(retryAfterSeconds(second, at('2026-03-01T12:34:00.999Z'))).toBe(1);
    // A clock already past the window (a slow request) still says 1, never 0 or less.
    expect(retryAfterSeconds(second, at('2026-03-01T12:34:05.000Z'))).toBe(1);
  });
});

describe('end-user keys', () => {
  it('hash the address, the session, the channel user or the tenant’s user id, and never contain them', () => {
    const key = endUserKey({ kind: 'address', sourceIp: '203.0.113.9' });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('203');
    expect(endUserKey({ kind: 'address', sourceIp: '203.0.113.9' })).toBe(key);
    const others = [
      endUserKey({ kind: 'address', sourceIp: '203.0.113.10' }),
      endUserKey({ kind: 'session', sessionId: '203.0.113.9' }),
      endUserKey({ kind: 'channel', channel: 'telegram', platformUserId: '203.0.113.9' }),
      endUserKey({ kind: 'channel', channel: 'whatsapp', platformUserId: '203.0.113.9' }),
      endUserKey({ kind: 'user', userId: '203.0.113.9' }),
    ];
    expect(new Set([key, ...others]).size).toBe(6);
  });

  // Audit finding: the per-user window was keyed by session plus address, so each new session
  // opened a new window (one address sent 12 messages a minute at perUserPerMinute=3).
  it('count a web or API turn under its address always, and under its session once it has one', () => {
    expect(webEndUsers({ sourceIp: '198.51.100.1' })).toEqual([
      { kind: 'address', sourceIp: '198.51.100.1' },
    ]);
    expect(webEndUsers({ sourceIp: '198.51.100.1', sessionId: 'ses_1' })).toEqual([
      { kind: 'address', sourceIp: '198.51.100.1' },
      { kind: 'session', sessionId: 'ses_1' },
    ]);
    // A tenant's backend names its users: the user id replaces the shared address.
    expect(webEndUsers({ sourceIp: '198.51.100.1', sessionId: 'ses_1', userId: 'crm-42' })).toEqual([
      { kind: 'user', userId: 'crm-42' },
      { kind: 'session', sessionId: 'ses_1' },
    ]);
    const windows = rateWindows({ ...scope, userKeys: ['a', 's'] }, limits, new Date('2026-03-01T12:00:00Z'));
    expect(windows.map((w) => [w.kind, w.pk])).toEqual([
      ['user-minute', 'RATE#tnt_a#bot_b#USER#a'],
      ['user-minute', 'RATE#tnt_a#bot_b#USER#s'],
      ['bot-second', 'RATE#tnt_a#bot_b'],
      ['bot-minute', 'RATE#tnt_a#bot_b'],
    ]);
  });

  it('cannot be confused by separators inside the parts', () => {
    expect(endUserKey({ kind: 'channel', channel: 'a', platformUserId: 'b\u0000c' })).not.toBe(
      endUserKey({ kind: 'channel', channel: 'a\u0000b', platformUserId: 'c' }),
    );
  });
});

describe('days and periods', () => {
  it('are UTC', () => {
    expect(dayOf(new Date('2026-12-31T23:59:59.999Z'))).toBe('2026-12-31');
    expect(periodOf(new Date('2026-12-31T23:59:59.999Z'))).toBe('2026-12');
    expect(periodOf(new Date('2027-01-01T00:00:00.000Z'))).toBe('2027-01');
    expect(nextPeriodStart('2026-12')).toBe('2027-01-01');
    expect(nextPeriodStart('2028-02')).toBe('2028-03-01');
  });

  it('list a range with both ends, across months and leap days', () => {
    expect(daysBetween('2024-02-27', '2024-03-02')).toEqual([
      '2024-02-27',
      '2024-02-28',
      '2024-02-29',
      '2024-03-01',
      '2024-03-02',
    ]);
    expect(daysBetween('2026-05-05', '2026-05-05')).toEqual(['2026-05-05']);
    expect(daysBetween('2026-05-06', '2026-05-05')).toEqual([]);
    expect(daysBetween('2025-01-01', '2025-12-31')).toHaveLength(365);
  });

  it('refuse dates that do not exist', () => {
    expect(dayStart('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
    for (const bad of ['2025-02-29', '2026-04-31', '2026-13-01', '2026-1-01', '20260101', 'x'])
      expect(dayStart(bad)).toBeNaN();
  });

  it('keep period items about thirteen months', () => {
    expect(periodExpiresAt('2026-01')).toBe(Date.UTC(2026, 0, 1) / 1000 + 400 * 86_400);
  });
});

describe('quota warning threshold', () => {
  it('is reached at 80 %, exactly, and never for a zero limit', () => {
    expect(reachesWarning(23, 30)).toBe(false);
    expect(reachesWarning(24, 30)).toBe(true);
    expect(reachesWarning(7_999, 10_000)).toBe(false);
    expect(reachesWarning(8_000, 10_000)).toBe(true);
    expect(reachesWarning(3_999_999, 5_000_000)).toBe(false);
    expect(reachesWarning(4_000_000, 5_000_000)).toBe(true);
    expect(reachesWarning(0, 0)).toBe(false);
    expect(reachesWarning(5, 0)).toBe(false);
  });
});
