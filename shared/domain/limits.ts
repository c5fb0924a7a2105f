import { createHash } from 'node:crypto';

// Rate-limit windows, billing periods and days: the pure arithmetic behind the rate limiter, the
// quota guard and the usage report. Storage keys of the `usage` table are built here so the
// adapters that share an item (the period item is written by the quota guard and by usage
// recording) cannot disagree about it.

/** A bot's `rateLimits` setting. */
export interface RateLimits {
  readonly perSecond: number;
  readonly perMinute: number;
  readonly perUserPerMinute: number;
}

export type RateWindowKind = 'user-minute' | 'bot-second' | 'bot-minute';

/** One fixed window: a counter item that admits at most `limit` requests until `endsAtMs`. */
export interface RateWindow {
  readonly kind: RateWindowKind;
  readonly pk: string;
  readonly sk: string;
  readonly limit: number;
  /** Epoch milliseconds at which this window ends and the next one starts. */
  readonly endsAtMs: number;
  /** Epoch seconds after which DynamoDB may delete the counter (two windows after its end). */
  readonly expiresAt: number;
}

export interface RateScope {
  readonly tenantId: string;
  readonly botId: string;
  /**
   * The end user's keys (`endUserKey`: hashes, never raw addresses), one window each: the address
   * and, once there is one, the session, so neither new sessions nor a roaming session escape.
   */
  readonly userKeys: readonly string[];
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

function fixedWindow(
  kind: RateWindowKind,
  pk: string,
  unit: 'SEC' | 'MIN',
  limit: number,
  nowMs: number,
): RateWindow {
  const length = unit === 'SEC' ? SECOND : MINUTE;
  const index = Math.floor(nowMs / length);
  const endsAtMs = (index + 1) * length;
  return {
    kind,
    pk,
    sk: `${unit}#${index}`,
    limit,
    endsAtMs,
    expiresAt: Math.ceil((endsAtMs + 2 * length) / 1000),
  };
}

export const rateBotPk = (tenantId: string, botId: string) => `RATE#${tenantId}#${botId}`;
export const rateUserPk = (tenantId: string, botId: string, userKey: string) =>
  `${rateBotPk(tenantId, botId)}#USER#${userKey}`;

/**
 * The windows one request must fit in: the end user's (one per key) first, then the bot's. The
 * user's are the narrowest counters, so a user over their own limit is refused before touching
 * (and contending for) the bot's.
 */
export function rateWindows(scope: RateScope, limits: RateLimits, now: Date): RateWindow[] {
  const nowMs = now.getTime();
  const bot = rateBotPk(scope.tenantId, scope.botId);
  return [
    ...scope.userKeys.map((userKey) =>
      fixedWindow(
        'user-minute',
        rateUserPk(scope.tenantId, scope.botId, userKey),
        'MIN',
        limits.perUserPerMinute,
        nowMs,
      ),
    ),
    fixedWindow('bot-second', bot, 'SEC', limits.perSecond, nowMs),
    fixedWindow('bot-minute', bot, 'MIN', limits.perMinute, nowMs),
  ];
}

/** Whole seconds until the window ends, at least 1 (what `Retry-After` says). */
export function retryAfterSeconds(window: Pick<RateWindow, 'endsAtMs'>, now: Date): number {
  return Math.max(1, Math.ceil((window.endsAtMs - now.getTime()) / 1000));
}

/**
 * One of the identities an end user is counted under for per-user limits: a source address, a
 * session, a platform's user on a messaging channel, or a user id a tenant's backend names.
 */
export type EndUser =
  | { readonly kind: 'address'; readonly sourceIp: string }
  | { readonly kind: 'session'; readonly sessionId: string }
  | { readonly kind: 'channel'; readonly channel: string; readonly platformUserId: string }
  | { readonly kind: 'user'; readonly userId: string };

/**
 * Who a web or API turn is counted as: its address always (a client opening a new session for
 * every message is still one address), and its session once there is one. A tenant's backend
 * serving many people from one address names each by `userId` instead of the address.
 */
export function webEndUsers(input: { sourceIp: string; sessionId?: string; userId?: string }): EndUser[] {
  return [
    input.userId !== undefined
      ? { kind: 'user', userId: input.userId }
      : { kind: 'address', sourceIp: input.sourceIp },
    ...(input.sessionId !== undefined ? [{ kind: 'session', sessionId: input.sessionId } as const] : []),
  ];
}

/** SHA-256 (hex) of the end user's identity: raw IP addresses and platform ids are never stored. */
export function endUserKey(user: EndUser): string {
  // JSON of an array: unambiguous whatever characters the parts contain.
  const identity =
    user.kind === 'address'
      ? ['address', user.sourceIp]
      : user.kind === 'session'
        ? ['session', user.sessionId]
        : user.kind === 'channel'
          ? ['channel', user.channel, user.platformUserId]
          : ['user', user.userId];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

/** A rough token count (about four characters a token in English) where a provider reports none. */
export const estimateTokens = (texts: readonly string[]) =>
  texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);

// Days and billing periods (UTC).

const DAY = 24 * 60 * 60 * 1000;

/** `YYYY-MM-DD` (UTC). */
export const dayOf = (date: Date) => date.toISOString().slice(0, 10);
/** The billing period, `YYYY-MM`: the calendar month in UTC. */
export const periodOf = (date: Date) => date.toISOString().slice(0, 7);

/** Epoch milliseconds of a `YYYY-MM-DD` day's start, or NaN when it is not a real date. */
export function dayStart(day: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return Number.NaN;
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isNaN(ms) || dayOf(new Date(ms)) !== day ? Number.NaN : ms;
}

/** Days from `from` to `to`, both included, in order; empty if `to` is before `from`. */
export function daysBetween(from: string, to: string): string[] {
  const start = dayStart(from);
  const end = dayStart(to);
  const days: string[] = [];
  for (let ms = start; ms <= end; ms += DAY) days.push(dayOf(new Date(ms)));
  return days;
}

/** The first day of the period after `period` (when its quota renews). */
export function nextPeriodStart(period: string): string {
  const [year = 0, month = 1] = period.split('-').map(Number);
  return dayOf(new Date(Date.UTC(year, month, 1)));
}

/** Period items live about 13 months (the report shows the current one; TTL cleans the rest). */
export const PERIOD_RETENTION_DAYS = 400;

export function periodExpiresAt(period: string): number {
  return Math.floor(Date.parse(`${period}-01T00:00:00.000Z`) / 1000) + PERIOD_RETENTION_DAYS * 86_400;
}

/** Usage at or above 80 % of a (positive) limit warns. Integer arithmetic: no rounding at the edge. */
export const reachesWarning = (used: number, limit: number) => limit > 0 && used * 5 >= limit * 4;
/** The least usage that `reachesWarning` of a (positive) limit. */
export const warningThreshold = (limit: number) => Math.ceil((limit * 4) / 5);

// Keys of the `usage` table's tenant items.
export const usageTenantPk = (tenantId: string) => `TENANT#${tenantId}`;
/** A day's counters: per bot, or for the whole tenant (`botId` undefined). */
export const usageDaySk = (day: string, botId?: string) =>
  botId === undefined ? `DAY#${day}#ALL` : `DAY#${day}#BOT#${botId}`;
export const usagePeriodSk = (period: string) => `PERIOD#${period}`;
