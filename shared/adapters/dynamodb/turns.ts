import { randomUUID } from 'node:crypto';
import { setTimeout } from 'node:timers/promises';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { rateWindows } from '../../domain/limits.ts';
import type {
  AdmissionDecision,
  AdmissionRequest,
  TurnRecord,
  TurnStore,
  WarningThresholds,
} from '../../ports/limits.ts';
import type { PeriodUsage } from '../../ports/usage.ts';
import {
  addedTo,
  CONFLICT_ATTEMPTS,
  conflictPauseMs,
  plainItem,
  type ReservationRequest,
  rateRefusal,
  refusalOf,
  reservationUpdate,
  reserved,
  reserveMessage,
  startHolding,
  takeOneByOne,
  takeSlot,
  toPeriodUsage,
  type UsageTable,
} from './limits.ts';
import { type ConversationWrite, conversationItems } from './sessions.ts';
import {
  createDynamoUsageRepository,
  dayAdditions,
  periodSettlement,
  settled,
  settlementOf,
  touchesPeriod,
} from './usage.ts';

// A chat turn's two writes, each one TransactWriteItems: its admission (the rate windows and the
// period's reservation, limits.ts), and its record once answered — the session and its messages
// (sessions.ts), the bot's and the tenant's day, and the period's settlement (usage.ts). Each is
// sent again, changed, when a condition of its own refused it without refusing the turn: the
// warning clause (the period is then known, see limits.ts), a session created meanwhile (the turn
// joins it) or deleted meanwhile (the usage is still recorded, without the messages). After
// CONFLICT_ATTEMPTS TransactionConflicts a turn falls back to separate writes, which cannot
// conflict and leave every count right (they only ADD).

type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** A transaction's outcome: written, cancelled by a conflict, or each item's cancellation reason. */
type Outcome =
  | { readonly written: true }
  | { readonly written: false; readonly conflict: true }
  | {
      readonly written: false;
      readonly conflict: false;
      readonly refused: readonly { readonly code?: string; readonly item?: unknown }[];
    };

async function transact(db: DynamoDBDocumentClient, items: TransactItems): Promise<Outcome> {
  try {
    // The SDK's own retries of this call reuse the token: DynamoDB applies the transaction once.
    await db.send(new TransactWriteCommand({ TransactItems: items, ClientRequestToken: randomUUID() }));
    return { written: true };
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const reasons = error.CancellationReasons ?? [];
    const refused = reasons.map((reason) => ({ code: reason.Code, item: reason.Item }));
    if (refused.some((reason) => reason.code === 'ConditionalCheckFailed'))
      return { written: false, conflict: false, refused };
    if (refused.some((reason) => reason.code === 'TransactionConflict'))
      return { written: false, conflict: true };
    throw error;
  }
}

/** Pauses before another attempt after a conflict; false once the attempts are used up. */
async function mayRetry(conflicts: number): Promise<boolean> {
  if (conflicts >= CONFLICT_ATTEMPTS) return false;
  await setTimeout(conflictPauseMs(conflicts));
  return true;
}

interface Tables {
  readonly sessions: string;
  readonly usage: string;
}

/** What the turn store's operations work with. */
interface Store {
  readonly db: DynamoDBDocumentClient;
  readonly tables: Tables;
  readonly usage: UsageTable;
  readonly usageRecords: ReturnType<typeof createDynamoUsageRepository>;
}

export function createDynamoTurnStore(db: DynamoDBDocumentClient, tables: Tables): TurnStore {
  const store: Store = {
    db,
    tables,
    usage: { db, table: tables.usage },
    usageRecords: createDynamoUsageRepository(db, tables.usage),
  };
  return { admit: (request) => admit(store, request), record: (turn) => record(store, turn) };
}

async function admit(store: Store, request: AdmissionRequest): Promise<AdmissionDecision> {
  const windows = rateWindows(request, request.limits, request.now);
  if (!windows.some((window) => window.kind === 'user-minute'))
    throw new Error('no rate window for the end user');
  const reservation: ReservationRequest = { tenantId: request.tenantId, ...request.quota };
  let warnAt: WarningThresholds | undefined = request.quota.warnAt;
  let learned: PeriodUsage | undefined;
  for (let conflicts = 0; ; ) {
    const built = reservationUpdate(store.tables.usage, reservation, warnAt);
    if ('exhausted' in built) return { admitted: false, refusedBy: 'quota', exhausted: built.exhausted };
    const outcome = await transact(store.db, [
      ...windows.map((window) => ({ Update: takeSlot(store.tables.usage, window) })),
      { Update: { ...built.update, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
    ]);
    if (outcome.written) return { admitted: true, ...(learned && { usage: learned }) };
    if (outcome.conflict) {
      if (await mayRetry(++conflicts)) continue;
      return admitOneByOne(store, request, reservation);
    }
    const full = windows.filter((_, i) => outcome.refused[i]?.code === 'ConditionalCheckFailed');
    if (full.length > 0) return rateRefusal(full, request.now);
    const old = plainItem(outcome.refused[windows.length]?.item) ?? {};
    const refusal = refusalOf(old, reservation);
    if (refusal === 'unsettled') {
      if (await startHolding(store.usage, reservation.tenantId, reservation.period)) continue;
      return { admitted: false, refusedBy: 'quota', exhausted: 'tokens' };
    }
    if (refusal !== undefined || warnAt === undefined)
      return { admitted: false, refusedBy: 'quota', exhausted: refusal };
    // The warning clause: this message takes the period to a threshold. Again without it.
    learned = addedTo(toPeriodUsage(reservation.period, old), reserved(reservation));
    warnAt = undefined;
  }
}

/** The fallback under contention: the windows one by one, then the reservation. */
async function admitOneByOne(
  store: Store,
  request: AdmissionRequest,
  reservation: ReservationRequest,
): Promise<AdmissionDecision> {
  const windows = rateWindows(request, request.limits, request.now);
  const full = await takeOneByOne(store.usage, windows);
  if (full.length > 0) return rateRefusal(full, request.now);
  // The windows stay taken by a request the quota refuses: as if it had been refused second.
  const reservedAlone = await reserveMessage(store.usage, reservation);
  return reservedAlone.admitted
    ? { admitted: true, usage: reservedAlone.usage }
    : { admitted: false, refusedBy: 'quota', exhausted: reservedAlone.exhausted };
}

async function record(store: Store, turn: TurnRecord): Promise<{ usage?: PeriodUsage }> {
  const { tables } = store;
  const period = turn.day.slice(0, 7);
  const used = settlementOf(turn.counters, turn.heldTokens, turn.heldCostNanoUsd);
  const settles = touchesPeriod(used);
  const days = dayAdditions(tables.usage, turn.tenantId, turn.botId, turn.day, turn.counters);
  let conversation: ConversationWrite | undefined = turn.conversation;
  let warnAt: WarningThresholds | undefined = turn.warnAt;
  let learned: PeriodUsage | undefined;
  for (let conflicts = 0; ; ) {
    const items: TransactItems = [
      ...(conversation ? conversationItems(tables.sessions, conversation) : []),
      ...days.map((update) => ({ Update: update })),
      ...(settles
        ? [
            {
              Update: {
                ...periodSettlement(tables.usage, turn.tenantId, period, used, warnAt),
                ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
              },
            },
          ]
        : []),
    ];
    if (items.length === 0) return {};
    const outcome = await transact(store.db, items);
    if (outcome.written) return learned ? { usage: learned } : {};
    if (outcome.conflict) {
      if (await mayRetry(++conflicts)) continue;
      return recordSeparately(store, { ...turn, conversation });
    }
    const refusedAt = (index: number) => outcome.refused[index]?.code === 'ConditionalCheckFailed';
    if (conversation && refusedAt(0)) {
      // A new session another turn of the same user created first is joined; a session deleted
      // during the turn takes no messages, and the usage is still recorded.
      conversation = conversation.isNew ? { ...conversation, isNew: false } : undefined;
    }
    if (settles && refusedAt(items.length - 1)) {
      // The warning clause: the period is known now. Again without it.
      const old = plainItem(outcome.refused[items.length - 1]?.item);
      learned = addedTo(toPeriodUsage(period, old), settled(used));
      warnAt = undefined;
    }
  }
}

/** The fallback under contention: the usage's updates (usage.ts), and the conversation's own transaction. */
async function recordSeparately(store: Store, turn: TurnRecord): Promise<{ usage?: PeriodUsage }> {
  const { tenantId, botId, day, counters, heldTokens, heldCostNanoUsd } = turn;
  const [after] = await Promise.all([
    store.usageRecords.add(tenantId, botId, day, counters, heldTokens, heldCostNanoUsd),
    turn.conversation && writeConversation(store, turn.conversation),
  ]);
  return after ? { usage: after } : {};
}

/** The conversation alone: joined or dropped as in `record` when its session changed meanwhile. */
async function writeConversation(store: Store, write: ConversationWrite): Promise<void> {
  for (let conflicts = 0, next = write; ; ) {
    const outcome = await transact(store.db, conversationItems(store.tables.sessions, next));
    if (outcome.written) return;
    if (outcome.conflict) {
      if (await mayRetry(++conflicts)) continue;
      throw new Error('the conversation was not written: its session stayed in conflict');
    }
    if (!next.isNew) return;
    next = { ...next, isNew: false };
  }
}
