// What the use-cases need, in one place: each use-case module takes one of these, and the wiring
// (shared/wiring/, the functions, the local platform) builds them. Types only, importing ports and
// domain types, never a use-case module: so any use-case can name another's deps without an
// import cycle.

import type { Bot } from '../domain/bot.ts';
import type { ChannelType } from '../domain/channel.ts';
import type { EvaluateMessage } from '../domain/evaluation.ts';
import type { EndUser } from '../domain/limits.ts';
import type { EmbedMessage } from '../ingestion/messages.ts';
import type { RecordMetrics } from '../metrics.ts';
import type { BlobStore } from '../ports/blob-store.ts';
import type { ChannelClient } from '../ports/channel-client.ts';
import type { ChatMessage, ChatModel, ChatProvider } from '../ports/chat-model.ts';
import type { Clock } from '../ports/clock.ts';
import type { Embedder } from '../ports/embedder.ts';
import type { EvaluationRepository, TestQuestionRepository } from '../ports/evaluations.ts';
import type { TurnRecord } from '../ports/limits.ts';
import type { MessageQueue } from '../ports/queue.ts';
import type { ReplyLedger } from '../ports/reply-ledger.ts';
import type {
  BotRepository,
  ChannelRepository,
  Repositories,
  SessionRepository,
} from '../ports/repositories.ts';
import type { Reranker } from '../ports/reranker.ts';
import type { SecretBox } from '../ports/secret-box.ts';
import type { UsageRepository } from '../ports/usage.ts';
import type { VectorIndex } from '../ports/vector-index.ts';

/** Tenants, keys, bots and documents as records. */
export interface TenantDeps {
  repos: Repositories;
  clock: Clock;
}

/** Documents: their objects, and the embed queue (the index's one writer). */
export interface KnowledgeDeps extends TenantDeps {
  blobs: BlobStore;
  embedQueue: MessageQueue<EmbedMessage>;
  /** Ingestion's pages, chunks, failures and extraction time. */
  metrics?: RecordMetrics;
}

/** Channel connections: their sealed credentials, and each channel's client. */
export interface ChannelDeps extends TenantDeps {
  channels: ChannelRepository;
  secretBox: SecretBox;
  /** Each channel's client, as its kind builds it (`createChannelClientsFromEnv`). */
  clients: (channel: ChannelType) => ChannelClient;
}

/**
 * What deleting a bot reaches: its channels (Telegram's webhook deleted) and their de-duplication
 * and send records (which hold replies still to send), documents, objects, chunks,
 * conversations, test questions and evaluation runs; deleting a tenant also its usage records. (A
 * bot's usage stays with its tenant's history.)
 */
export interface CascadeDeps extends KnowledgeDeps, ChannelDeps {
  sessions: Pick<SessionRepository, 'deleteAllOfBot'>;
  usage: Pick<UsageRepository, 'deleteTenant'>;
  replyLedger: Pick<ReplyLedger, 'deleteBot'>;
  testQuestions: Pick<TestQuestionRepository, 'deleteAllOfBot'>;
  evaluations: Pick<EvaluationRepository, 'deleteAllOfBot'>;
}

/** Turns a follow-up and its conversation into one standalone query (a short model call). */
export type QueryRewriter = (
  history: readonly ChatMessage[],
  question: string,
) => Promise<{ query: string; inputTokens: number; outputTokens: number }>;

export interface RetrievalDeps {
  index: VectorIndex;
  embedder: Embedder;
  /** Reorders the fused candidates when a bot turns `retrieval.rerank` on (absent: not configured). */
  reranker?: Reranker;
  /** Rewrites follow-ups with the bot's model; without it, the offline rule applies. */
  rewrite?: QueryRewriter;
}

/** Embedding chunk batches into the index, and the index's deletions (the embed function). */
export interface EmbedDeps {
  repos: Repositories;
  clock: Clock;
  index: VectorIndex;
  embedder: Embedder;
  usage: UsageRepository;
  /** Embedding and index time per batch, chunks, tokens, and documents ready or failed. */
  metrics?: RecordMetrics;
}

/** Admission and accounting of a turn: rate limits and quotas before, usage and messages after. */
export interface TurnGuard {
  /**
   * Counts the turn for each of the end user's identities and holds the most tokens it may use.
   * Throws RateLimitedError or QuotaExceededError when the turn may not run.
   */
  admit(bot: Bot, endUsers: readonly EndUser[], holdTokens: number): Promise<{ heldTokens: number }>;
  /**
   * Records what the turn used (per tenant, bot and day, and toward the monthly quota), settling
   * what its admission held, with its conversation's messages in the same write; returns its cost.
   */
  record(
    bot: Bot,
    usage: { inputTokens: number; outputTokens: number; modelId: string; heldTokens: number },
    conversation: TurnRecord['conversation'],
  ): Promise<{ costNanoUsd: number }>;
}

export interface ChatDeps {
  bots: Pick<BotRepository, 'findById'>;
  sessions: SessionRepository;
  clock: Clock;
  retrieval: () => Promise<Omit<RetrievalDeps, 'rewrite'>>;
  model: (provider: ChatProvider) => Promise<ChatModel>;
  guard: TurnGuard;
  /** Total time for a buffered model call, retries included (API Gateway ends calls at 29 s). */
  modelBudgetMs?: number;
  /** Total time for a streamed answer (STREAM_DEADLINE_MS by default). */
  streamBudgetMs?: number;
  /** Turns, tokens, cost and the latency of each stage; fallbacks (which an alarm watches). */
  metrics?: RecordMetrics;
}

/** Test questions and evaluation runs, as the admin API reads and writes them. */
export interface EvaluationDeps extends TenantDeps {
  testQuestions: TestQuestionRepository;
  evaluations: EvaluationRepository;
}

export interface StartEvaluationDeps extends EvaluationDeps {
  evaluateQueue: MessageQueue<EvaluateMessage>;
}

/** The evaluate function's. */
export interface RunEvaluationDeps extends EvaluationDeps {
  /** The index, the embedder (and a reranker where the deployment has one), as search uses them. */
  retrieval: () => Promise<RetrievalDeps>;
  usage: Pick<UsageRepository, 'add'>;
}
