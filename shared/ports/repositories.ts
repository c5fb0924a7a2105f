import type { ApiKeyRecord } from '../domain/api-key.ts';
import type { Bot } from '../domain/bot.ts';
import type { ChannelConnection, ChannelType } from '../domain/channel.ts';
import type { KnowledgeDocument } from '../domain/document.ts';
import type { ChatSession, StoredMessage } from '../domain/session.ts';
import type { Tenant } from '../domain/tenant.ts';

// Every method that touches a tenant's data takes the tenant id: no call can read across tenants.

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TenantRepository {
  /** Creates the tenant and its first admin key together, or neither. */
  create(tenant: Tenant, firstKey: ApiKeyRecord): Promise<void>;
  get(tenantId: string): Promise<Tenant | undefined>;
  list(page: PageRequest): Promise<Page<Tenant>>;
  /** Replaces the stored tenant; false if it no longer exists. */
  update(tenant: Tenant): Promise<boolean>;
  delete(tenantId: string): Promise<void>;
}

export interface ApiKeyRepository {
  create(key: ApiKeyRecord): Promise<void>;
  /** A strongly consistent read by key id, for authentication: a revoked key is gone at once. */
  getForAuth(keyId: string): Promise<ApiKeyRecord | undefined>;
  /**
   * `getForAuth` and the bot a chat request names (as `findById`, but a bot stored before its copy
   * by id existed is not found here) in one read: a chat request with a key reads both at once.
   */
  getForAuthWithBot(keyId: string, botId: string): Promise<{ key?: ApiKeyRecord; bot?: Bot }>;
  list(tenantId: string, page: PageRequest): Promise<Page<ApiKeyRecord>>;
  /** Deletes the tenant's key; false if the tenant has no such key. */
  revoke(tenantId: string, keyId: string): Promise<boolean>;
  /** Records use, at most once per `minIntervalSeconds`, so hot keys do not write on every call. */
  touch(tenantId: string, keyId: string, at: Date, minIntervalSeconds: number): Promise<void>;
  /** Every key id of the tenant, for the deletion cascade. */
  listIds(tenantId: string): Promise<string[]>;
}

export interface BotRepository {
  create(bot: Bot): Promise<void>;
  get(tenantId: string, botId: string): Promise<Bot | undefined>;
  list(tenantId: string, page: PageRequest): Promise<Page<Bot>>;
  /** Replaces the stored bot if it still exists and was last updated at `expectedUpdatedAt`. */
  update(bot: Bot, expectedUpdatedAt: string): Promise<'updated' | 'missing' | 'conflict'>;
  delete(tenantId: string, botId: string): Promise<boolean>;
  /** Every bot id of the tenant, for the deletion cascade. */
  listIds(tenantId: string): Promise<string[]>;
  /**
   * A bot by id alone, for public chat and webhooks (which carry no tenant): a consistent read, so
   * a bot changed a moment ago is read as changed; callers check the owner themselves.
   */
  findById(botId: string): Promise<Bot | undefined>;
}

export interface DocumentRef {
  readonly tenantId: string;
  readonly botId: string;
  readonly documentId: string;
}

export interface DocumentRepository {
  /** Creates the document unless the tenant already has `maxDocuments` (counted atomically). */
  create(document: KnowledgeDocument, maxDocuments: number): Promise<'created' | 'limit'>;
  get(ref: DocumentRef): Promise<KnowledgeDocument | undefined>;
  list(tenantId: string, botId: string, page: PageRequest): Promise<Page<KnowledgeDocument>>;
  /** Every document of a bot, for the deletion cascade. */
  listAll(tenantId: string, botId: string): Promise<KnowledgeDocument[]>;
  /** Deletes the record and gives the tenant its document slot back; the deleted record, if any. */
  delete(ref: DocumentRef): Promise<KnowledgeDocument | undefined>;
  /**
   * Claims the document for one ingestion attempt: awaiting_upload → processing, or processing →
   * processing for the same attempt (its redelivery). False when missing, finished, or claimed by
   * another attempt, so two deliveries never ingest it at once. Past `staleAt` the sweeper fails it.
   */
  startProcessing(ref: DocumentRef, attempt: { id: string; at: string; staleAt: string }): Promise<boolean>;
  /** Records how many chunks the document has (before any is sent for indexing), for its attempt. */
  setChunksTotal(ref: DocumentRef, chunksTotal: number, attemptId: string, at: string): Promise<boolean>;
  /**
   * Counts a batch of indexed chunks once: a redelivered batch is recognised by its number.
   * Returns the document after counting, `already` for a batch counted before, `missing` if gone.
   */
  countIndexedBatch(
    ref: DocumentRef,
    batch: number,
    chunks: number,
    at: string,
  ): Promise<{ outcome: 'counted' | 'already'; document: KnowledgeDocument } | { outcome: 'missing' }>;
  /** processing → ready once every chunk is indexed; false otherwise. */
  markReady(ref: DocumentRef, at: string): Promise<boolean>;
  /** → failed with a reason, unless already ready or failed; false otherwise. */
  markFailed(ref: DocumentRef, reason: string, at: string): Promise<boolean>;
  /** Documents still awaiting their upload after their deadline (oldest first). */
  listExpiredUploads(now: string, limit: number): Promise<KnowledgeDocument[]>;
  /** Documents still processing after their attempt went stale (oldest first). */
  listStaleProcessing(now: string, limit: number): Promise<KnowledgeDocument[]>;
}

export interface SessionRepository {
  /** The live session (absent if unknown, another bot's or tenant's, or expired at `now`). */
  get(tenantId: string, botId: string, sessionId: string, now: Date): Promise<ChatSession | undefined>;
  /** The live session (as `get`) and its last `limit` live messages, oldest first (none without a session). */
  open(
    tenantId: string,
    botId: string,
    sessionId: string,
    limit: number,
    now: Date,
  ): Promise<{ session?: ChatSession; history: StoredMessage[] }>;
  /** Creates the session; an expired one with the same id (a channel user's, see ids.ts) is replaced. */
  create(session: ChatSession): Promise<void>;
  /** The last `limit` live messages at `now`, oldest first. */
  history(tenantId: string, sessionId: string, limit: number, now: Date): Promise<StoredMessage[]>;
  /**
   * Stores messages, each expiring at `expiresAt`, and moves the session's own expiry there:
   * a session lives `sessionTtlSeconds` past its last message.
   */
  append(session: ChatSession, messages: StoredMessage[], expiresAt: number, at: string): Promise<void>;
  list(tenantId: string, botId: string, page: PageRequest, now: Date): Promise<Page<ChatSession>>;
  /** Deletes the session and every message of it; false if there was none. */
  delete(tenantId: string, botId: string, sessionId: string): Promise<boolean>;
  /** Deletes every session of a bot (the deletion cascade). */
  deleteAllOfBot(tenantId: string, botId: string): Promise<number>;
}

export interface Repositories {
  tenants: TenantRepository;
  keys: ApiKeyRepository;
  bots: BotRepository;
  documents: DocumentRepository;
}

export interface ChannelRepository {
  /** Creates or replaces the bot's connection to the channel. */
  put(connection: ChannelConnection): Promise<void>;
  get(tenantId: string, botId: string, type: ChannelType): Promise<ChannelConnection | undefined>;
  /**
   * A strongly consistent read by the bot id of a webhook URL, which names no tenant: the platform
   * proves itself with the secret sealed in the connection (and the seal's context is the tenant's).
   */
  getForWebhook(botId: string, type: ChannelType): Promise<ChannelConnection | undefined>;
  /** The bot's connections, in channel order. */
  list(tenantId: string, botId: string): Promise<ChannelConnection[]>;
  /** The deleted connection, if there was one. */
  delete(tenantId: string, botId: string, type: ChannelType): Promise<ChannelConnection | undefined>;
  /** Notes a message taken in at `at` (no-op when the connection is gone). */
  recordInbound(tenantId: string, botId: string, type: ChannelType, at: string): Promise<void>;
  /**
   * Notes how a send went: `status` and, when it failed, `lastError` (kept after a later success,
   * as the last error seen). No-op when the connection is gone.
   */
  recordDelivery(
    tenantId: string,
    botId: string,
    type: ChannelType,
    outcome: { status: ChannelConnection['status']; lastError?: string; at: string },
  ): Promise<void>;
}
