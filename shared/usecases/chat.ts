import { answerTokenBound, buildSystemPrompt } from '../chat/prompt.ts';
import { modelRewriter, REWRITE_TOKEN_BOUND } from '../chat/rewrite.ts';
import type { Bot } from '../domain/bot.ts';
import {
  BadRequestError,
  BotDisabledError,
  ConflictError,
  NotFoundError,
  UnauthorizedError,
} from '../domain/errors.ts';
import { channelSessionId, newId } from '../domain/ids.ts';
import { type EndUser, endUserKey, estimateTokens, webEndUsers } from '../domain/limits.ts';
import { allowedModel } from '../domain/models.ts';
import type { Passage } from '../domain/passage.ts';
import {
  type ChatSession,
  type Citation,
  isMessagingChannel,
  type SessionChannel,
  type StoredMessage,
} from '../domain/session.ts';
import { logger } from '../logging.ts';
import { msBetween } from '../metrics.ts';
import { type ChatMessage, ChatModelUnavailableError, type ChatRequest } from '../ports/chat-model.ts';
import { epochSeconds } from '../ports/clock.ts';
import { deploymentModels } from '../wiring/models.ts';
import type { ChatDeps, QueryRewriter } from './deps.ts';
import { retrieve } from './retrieve.ts';

/**
 * Who is calling: a tenant key (API), or an anonymous visitor of a public bot: a browser on a
 * site (its Origin), or Parley's own pages (`webApp`): the hosted chat page, or the widget's frame
 * embedded on `site`.
 */
export type ChatCaller =
  | { kind: 'tenant'; tenantId: string }
  | { kind: 'anonymous'; origin?: string; webApp?: boolean; site?: string };

export interface ChatTurnInput {
  /** The bot, as the edge resolved it for this caller (`resolveBot`): the turn's one bot read. */
  bot: Bot;
  message: string;
  /** Web and API: the session to continue. Messaging channels: ignored (each user has one). */
  sessionId?: string;
  caller: ChatCaller;
  channel: SessionChannel;
  /** Who the end user is for rate limits: the source address, or a messaging platform's user. */
  userIdentity: string;
  /** A tenant's backend serving many people from one address names each (tenant callers only). */
  userId?: string;
}

export interface ChatTurnResult {
  sessionId: string;
  reply: string;
  citations: Citation[];
  usage: { inputTokens: number; outputTokens: number };
  fallback: boolean;
  /** False when the bot did not answer: nothing relevant was found, or the provider was down. */
  answered: boolean;
}

const SNIPPET_CHARS = 240;
/**
 * A streamed answer's whole time. Lambda response streaming gives no signal when the client
 * leaves, so this (below chat-stream's 120 s timeout) ends a stream nobody reads.
 */
export const STREAM_DEADLINE_MS = 90_000;
/**
 * Characters a streamed answer may reach per token of the bot's `maxTokens` (generous: tokens are
 * ~4 characters): a provider that ignores `maxTokens` is cut off here.
 */
const STREAM_CHARS_PER_TOKEN_AT_MOST = 8;
/**
 * A bot by id, read fresh: the turn's one bot read (never cached per container, so a bot its owner
 * disabled or made private stops on the very next turn).
 */
export const loadBot = (deps: Pick<ChatDeps, 'bots'>, botId: string) => deps.bots.findById(botId);

/**
 * Resolves the bot a caller may talk to: a tenant key reaches its own bots; anonymous callers
 * reach public bots from their allowed origins. Anything else is 404 (never revealing the bot),
 * except a private bot called without a key (401) and a disabled bot (its own code).
 */
export async function resolveBot(
  deps: Pick<ChatDeps, 'bots'>,
  botId: string,
  caller: ChatCaller,
): Promise<Bot> {
  const bot = await loadBot(deps, botId);
  if (!bot) throw new NotFoundError('No such bot');
  if (caller.kind === 'tenant') {
    if (bot.tenantId !== caller.tenantId) throw new NotFoundError('No such bot');
  } else {
    if (bot.visibility !== 'public') throw new UnauthorizedError('This bot needs an API key');
    // The hosted page is always allowed for its bot; the widget, like any site, only where the
    // bot's owner allows it.
    const site = caller.webApp ? caller.site : caller.origin;
    if (site !== undefined && !bot.allowedOrigins.includes(site)) throw new NotFoundError('No such bot');
  }
  if (!bot.enabled) throw new BotDisabledError('This bot is disabled');
  return bot;
}

const citationOf = (p: Passage, n: number): Citation => ({
  n,
  documentId: p.documentId,
  filename: p.filename,
  ...(p.page !== undefined && { page: p.page }),
  ...(p.heading !== undefined && { heading: p.heading }),
  snippet: p.text.length > SNIPPET_CHARS ? `${p.text.slice(0, SNIPPET_CHARS - 1)}…` : p.text,
  score: p.score,
});

/**
 * The follow-up rewriter of a bot with a language model: one short call to its own model, made
 * only when there is a follow-up to rewrite (its model is reached then, so a model that cannot be
 * reached fails the rewrite, which retrieval survives, not the search). The offline model has
 * none, so its bots use retrieval's deterministic rule.
 */
function rewriterFor(deps: Pick<ChatDeps, 'model'>, bot: Bot): { rewrite?: QueryRewriter } {
  if (bot.model.provider === 'local') return {};
  const { provider, id = '' } = bot.model;
  return {
    rewrite: async (history, question) => modelRewriter(await deps.model(provider), id)(history, question),
  };
}

/**
 * Whether a caller may continue or clear a session. A messaging channel's session is its user's
 * alone (reached only through that channel). Anonymous callers reach only `web` sessions, whose
 * server-issued id is their bearer secret; `api` sessions need the tenant's key.
 */
export function maySessionBeReached(
  session: ChatSession,
  caller: ChatCaller,
  channel: SessionChannel,
): boolean {
  if (isMessagingChannel(session.channel) || isMessagingChannel(channel)) return session.channel === channel;
  return caller.kind === 'tenant' || session.channel === 'web';
}

/** Clears a conversation through the chat API; unknown and unreachable sessions are 404 alike. */
export async function clearSession(
  deps: Pick<ChatDeps, 'sessions' | 'clock'>,
  bot: Bot,
  caller: ChatCaller,
  sessionId: string,
): Promise<void> {
  const channel: SessionChannel = caller.kind === 'tenant' ? 'api' : 'web';
  const session = await deps.sessions.get(bot.tenantId, bot.id, sessionId, deps.clock.now());
  if (!session || !maySessionBeReached(session, caller, channel)) throw new NotFoundError('No such session');
  if (!(await deps.sessions.delete(bot.tenantId, bot.id, sessionId)))
    throw new NotFoundError('No such session');
}

/** Everything before the model call: admission, session, history, then retrieval. */
export async function prepareTurn(deps: ChatDeps, input: ChatTurnInput) {
  const began = performance.now();
  const bot = turnBot(input);
  const now = deps.clock.now();
  const { sessionId, existing, history } = await conversationOf(deps, bot, input, now);
  const endUsers = endUsersOf(input, existing);
  const conversation = history.map((m) => ({ role: m.role, content: m.content }));
  const hold =
    answerTokenBound(bot, conversation, input.message) +
    (conversation.length > 0 && bot.model.provider !== 'local' ? REWRITE_TOKEN_BOUND : 0);
  const { heldTokens } = await deps.guard.admit(bot, endUsers, hold);

  const session: ChatSession = existing ?? {
    id: isMessagingChannel(input.channel) && sessionId ? sessionId : newId('ses'),
    tenantId: bot.tenantId,
    botId: bot.id,
    channel: input.channel,
    userKey: endUserKey(endUsers[0] as EndUser),
    createdAt: now.toISOString(),
    lastMessageAt: now.toISOString(),
    expiresAt: epochSeconds(now) + bot.sessionTtlSeconds,
  };
  // A new session is created with its first messages, in the turn's one write at the end.
  const retrieval = await retrieveForTurn(deps, bot, input.message, conversation);
  const passages = retrieval?.passages;

  // No request when the search failed (the fallback message) or found nothing relevant (the
  // no-answer message, unless the bot turned `retrieval.abstain` off): either way no model call.
  // Tool-using bots will let the model decide.
  const outcome = !passages
    ? 'search_failed'
    : passages.length === 0 && bot.retrieval.abstain
      ? 'no_answer'
      : 'ready';
  return {
    bot,
    session,
    passages: passages ?? [],
    request:
      outcome === 'ready' && passages ? modelRequest(bot, input.message, conversation, passages) : undefined,
    outcome,
    /** Tokens of the follow-up's rewrite call, counted with the answer's. */
    rewriteUsage: {
      inputTokens: retrieval?.usage.inputTokens ?? 0,
      outputTokens: retrieval?.usage.outputTokens ?? 0,
    },
    heldTokens,
    isNewSession: !existing,
    startedAt: now,
    began,
    prepared: performance.now(),
  };
}

/** The turn's bot, refused before anything is spent if its model is not offered. */
function turnBot(input: ChatTurnInput): Bot {
  if (input.userId !== undefined && input.caller.kind !== 'tenant') {
    throw new BadRequestError('userId is accepted only with the tenant’s API key', [
      { path: 'userId', message: 'requires an API key' },
    ]);
  }
  const { bot } = input;
  // A bot stored before its model left the allow-list: refused before anything is spent.
  if (!allowedModel(deploymentModels(), bot.model)) {
    throw new ConflictError(
      'This bot’s model is not offered by this deployment; its owner must choose another',
    );
  }
  return bot;
}

/**
 * The session to continue and its history, in one read (the history bounds the tokens the turn
 * holds). A messaging channel's user has one session, named after them.
 */
async function conversationOf(deps: ChatDeps, bot: Bot, input: ChatTurnInput, now: Date) {
  const sessionId = isMessagingChannel(input.channel)
    ? channelSessionId(bot.tenantId, bot.id, input.channel, input.userIdentity)
    : input.sessionId;
  const { session: found, history } = sessionId
    ? await deps.sessions.open(bot.tenantId, bot.id, sessionId, bot.historyTurns * 2, now)
    : { history: [] };
  // A session the caller may not reach is treated as unknown: a new one starts (nothing revealed).
  const existing = found && maySessionBeReached(found, input.caller, input.channel) ? found : undefined;
  return { sessionId, existing, history: existing ? history : [] };
}

/**
 * The end user is the platform user on a messaging channel. On the web and the API it is the
 * source address (or the tenant's own user id) and, once the session is real, the session too:
 * a client inventing a new session id for every message is still the same address.
 */
function endUsersOf(input: ChatTurnInput, existing: ChatSession | undefined): EndUser[] {
  if (isMessagingChannel(input.channel))
    return [{ kind: 'channel', channel: input.channel, platformUserId: input.userIdentity }];
  return webEndUsers({
    sourceIp: input.userIdentity,
    ...(existing && { sessionId: existing.id }),
    ...(input.userId !== undefined && { userId: input.userId }),
  });
}

/** What the bot retrieves for the turn; undefined when the index or the embedder is down. */
async function retrieveForTurn(deps: ChatDeps, bot: Bot, question: string, conversation: ChatMessage[]) {
  try {
    const retrievalDeps = await deps.retrieval();
    return await retrieve({ ...retrievalDeps, ...rewriterFor(deps, bot) }, bot, question, conversation);
  } catch (error) {
    // The index or the embedder down is answered like the model down: the fallback message.
    logger.error('retrieval failed; answering with the fallback message', { error });
    deps.metrics?.({ RetrievalFailures: 1 }, { tenantId: bot.tenantId, botId: bot.id });
    return undefined;
  }
}

const modelRequest = (
  bot: Bot,
  question: string,
  conversation: ChatMessage[],
  passages: readonly Passage[],
): ChatRequest => ({
  modelId: bot.model.id ?? '',
  system: buildSystemPrompt(bot, passages),
  messages: [...conversation, { role: 'user', content: question }],
  passages,
  question,
  temperature: bot.temperature,
  maxTokens: bot.maxTokens,
});

type PreparedTurn = Awaited<ReturnType<typeof prepareTurn>>;

/** Stores the user's message and the reply as separate records with the turn's usage, in one write. */
export async function finishTurn(
  deps: ChatDeps,
  turn: PreparedTurn,
  input: ChatTurnInput,
  answer: { text: string; inputTokens: number; outputTokens: number; fallback: boolean; answered?: boolean },
): Promise<ChatTurnResult> {
  const { bot, session, passages, startedAt } = turn;
  const modelDone = performance.now();
  const done = deps.clock.now();
  const answered = answer.answered ?? !answer.fallback;
  const citations = answered ? citedPassages(answer.text, passages) : [];
  const inputTokens = answer.inputTokens + turn.rewriteUsage.inputTokens;
  const outputTokens = answer.outputTokens + turn.rewriteUsage.outputTokens;
  const messages: StoredMessage[] = [
    {
      id: newId('msg'),
      role: 'user',
      content: input.message,
      createdAt: startedAt.toISOString(),
      inputTokens: 0,
      outputTokens: 0,
    },
    {
      id: newId('msg'),
      role: 'assistant',
      content: answer.text,
      // The reply sorts after the question even when both carry the same millisecond.
      createdAt: new Date(Math.max(done.getTime(), startedAt.getTime() + 1)).toISOString(),
      inputTokens,
      outputTokens,
      latencyMs: done.getTime() - startedAt.getTime(),
      ...(citations.length > 0 && { citations }),
      ...(answer.fallback && { fallback: true }),
      ...(!answered && { answered: false }),
    },
  ];
  const cost = await deps.guard.record(
    bot,
    {
      inputTokens,
      outputTokens,
      modelId: bot.model.id ?? bot.model.provider,
      heldTokens: turn.heldTokens,
    },
    {
      session,
      isNew: turn.isNewSession,
      messages,
      expiresAt: epochSeconds(done) + bot.sessionTtlSeconds,
      at: done.toISOString(),
    },
  );
  deps.metrics?.(
    {
      ChatTurns: 1,
      InputTokens: inputTokens,
      OutputTokens: outputTokens,
      ChatCostUsd: cost.costNanoUsd / 1e9,
      PrepareLatency: msBetween(turn.began, turn.prepared),
      ModelLatency: msBetween(turn.prepared, modelDone),
      TurnLatency: msBetween(turn.began),
      // A fallback after a failed search is counted as RetrievalFailures instead.
      ...(answer.fallback && turn.request && { ModelFallbacks: 1 }),
      ...(turn.outcome === 'no_answer' && { UnansweredTurns: 1 }),
    },
    { tenantId: bot.tenantId, botId: bot.id, channel: session.channel },
  );
  return {
    sessionId: session.id,
    reply: answer.text,
    citations,
    usage: { inputTokens, outputTokens },
    fallback: answer.fallback,
    answered,
  };
}

/**
 * A turn the bot does not answer, with one of its messages and no model tokens: the no-answer
 * message (nothing relevant was retrieved) or the fallback message (the model or the index is down).
 */
const answerWithout =
  (reason: 'no_answer' | 'fallback') => (deps: ChatDeps, turn: PreparedTurn, input: ChatTurnInput) =>
    finishTurn(deps, turn, input, {
      text: reason === 'fallback' ? turn.bot.fallbackMessage : turn.bot.noAnswerMessage,
      inputTokens: 0,
      outputTokens: 0,
      fallback: reason === 'fallback',
      answered: false,
    });
const answerWithNoAnswer = answerWithout('no_answer');
const answerWithFallback = answerWithout('fallback');

/**
 * The citations of an answer: the passages it references as `[n]` (each with its n, in the order
 * first referenced), or every passage when it references none (a model that ignored the markers).
 */
export function citedPassages(text: string, passages: readonly Passage[]): Citation[] {
  const referenced: number[] = [];
  for (const match of text.matchAll(/\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g)) {
    for (const n of (match[1] ?? '').split(',').map((x) => Number(x.trim()))) {
      if (n >= 1 && n <= passages.length && !referenced.includes(n)) referenced.push(n);
    }
  }
  const numbers = referenced.length > 0 ? referenced : passages.map((_, i) => i + 1);
  return numbers.flatMap((n) => {
    const passage = passages[n - 1];
    return passage ? [citationOf(passage, n)] : [];
  });
}

/**
 * One buffered turn: the answer, or the bot's fallback message when the model stays down or the
 * bot's documents cannot be searched.
 */
export async function chatTurn(deps: ChatDeps, input: ChatTurnInput): Promise<ChatTurnResult> {
  const turn = await prepareTurn(deps, input);
  if (turn.outcome === 'no_answer') return answerWithNoAnswer(deps, turn, input);
  if (!turn.request) return answerWithFallback(deps, turn, input);
  try {
    const model = await deps.model(turn.bot.model.provider);
    const result = await model.complete({
      ...turn.request,
      signal: AbortSignal.timeout(deps.modelBudgetMs ?? 25_000),
    });
    return await finishTurn(deps, turn, input, { ...result, fallback: false });
  } catch (error) {
    if (!(error instanceof ChatModelUnavailableError)) throw error;
    logger.warn('model unavailable; answering with the fallback message', { error, reason: error.reason });
    return answerWithFallback(deps, turn, input);
  }
}

export type ChatStreamOutput =
  | { type: 'session'; sessionId: string }
  | { type: 'delta'; text: string }
  | { type: 'citations'; citations: Citation[] }
  | {
      type: 'done';
      usage: { inputTokens: number; outputTokens: number };
      fallback: boolean;
      answered: boolean;
    };

/**
 * One streamed turn: `session`, then `delta`s, `citations` and `done`. When the model fails before
 * any text, the fallback message is streamed instead; after some text, the error propagates (the
 * caller sends an SSE `error`), and what was said is still stored.
 */
export async function* chatTurnStream(
  deps: ChatDeps,
  input: ChatTurnInput,
  signal?: AbortSignal,
): AsyncGenerator<ChatStreamOutput> {
  const turn = await prepareTurn(deps, input);
  yield { type: 'session', sessionId: turn.session.id };
  if (turn.outcome === 'no_answer' || !turn.request) {
    yield* streamUnanswered(
      turn.outcome === 'no_answer' ? answerWithNoAnswer : answerWithFallback,
      deps,
      turn,
      input,
    );
    return;
  }
  let text = '';
  // The adapter bounds the time to the first text and the silences between events. This ends the
  // call when the client goes away (`signal`), at the stream deadline, or past the answer's cap.
  const overCap = new AbortController();
  const bound = AbortSignal.any([
    overCap.signal,
    AbortSignal.timeout(deps.streamBudgetMs ?? STREAM_DEADLINE_MS),
    ...(signal ? [signal] : []),
  ]);
  const maxChars = turn.bot.maxTokens * STREAM_CHARS_PER_TOKEN_AT_MOST;
  const { request } = turn;
  try {
    const model = await deps.model(turn.bot.model.provider);
    for await (const event of model.stream({ ...request, signal: bound })) {
      if (event.type === 'delta') {
        if (text === '') {
          deps.metrics?.(
            { FirstTokenLatency: msBetween(turn.began) },
            { tenantId: turn.bot.tenantId, botId: turn.bot.id },
          );
        }
        text += event.text;
        yield { type: 'delta', text: event.text };
        if (text.length > maxChars) overCap.abort(new Error('the answer passed the bot’s maxTokens'));
      } else {
        const result = await finishTurn(deps, turn, input, { ...event, text, fallback: false });
        yield { type: 'citations', citations: result.citations };
        yield { type: 'done', usage: result.usage, fallback: false, answered: true };
      }
    }
  } catch (error) {
    if (bound.aborted) {
      // Stopped by us: the provider reports no usage for a cancelled stream, so what was sent
      // (the prompt) and what was generated are metered by estimate.
      logger.info('stream ended early', { reason: String(bound.reason), outputChars: text.length });
      const usage = {
        inputTokens: estimateTokens([request.system, ...request.messages.map((m) => m.content)]),
        outputTokens: estimateTokens([text]),
      };
      const result = await finishTurn(deps, turn, input, { text, ...usage, fallback: false });
      yield { type: 'citations', citations: result.citations };
      yield { type: 'done', usage: result.usage, fallback: false, answered: text !== '' };
      return;
    }
    if (!(error instanceof ChatModelUnavailableError)) throw error;
    if (error.partial) {
      await finishTurn(deps, turn, input, { text, inputTokens: 0, outputTokens: 0, fallback: false });
      throw error;
    }
    logger.warn('model unavailable; streaming the fallback message', { error, reason: error.reason });
    yield* streamUnanswered(answerWithFallback, deps, turn, input);
  }
}

/** A turn the bot does not answer, streamed: its message as one delta, no citations. */
async function* streamUnanswered(
  answer: typeof answerWithFallback,
  deps: ChatDeps,
  turn: PreparedTurn,
  input: ChatTurnInput,
): AsyncGenerator<ChatStreamOutput> {
  const result = await answer(deps, turn, input);
  yield { type: 'delta', text: result.reply };
  yield { type: 'citations', citations: [] };
  yield { type: 'done', usage: result.usage, fallback: result.fallback, answered: false };
}
