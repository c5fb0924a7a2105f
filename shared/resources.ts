// The one declaration of Parley's resources. The CDK stack (lib/) and the local platform (local/)
// both read this file, so a table key, a queue timeout or a route cannot differ between them.
// Plain data only: no AWS or CDK imports, so a Lambda bundle can import it cheaply.

export type AttributeType = 'S' | 'N';

export interface KeyDefinition {
  readonly name: string;
  readonly type: AttributeType;
}

export interface TableDefinition {
  /** Environment variable through which functions receive the table's name. */
  readonly envVar: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey: KeyDefinition;
  readonly globalIndexes: readonly {
    readonly name: string;
    readonly partitionKey: KeyDefinition;
    readonly sortKey: KeyDefinition;
  }[];
  /** Epoch seconds; DynamoDB deletes expired items lazily, so readers also treat them as absent. */
  readonly ttlAttribute: string;
}

export const TTL_ATTRIBUTE = 'expiresAt';

const pk: KeyDefinition = { name: 'pk', type: 'S' };
const sk: KeyDefinition = { name: 'sk', type: 'S' };
const gsi1 = {
  name: 'gsi1',
  partitionKey: { name: 'gsi1pk', type: 'S' },
  sortKey: { name: 'gsi1sk', type: 'S' },
} as const;

export const tables = {
  /** Tenants, key records, bots, channels and documents (single-table design, see docs/ARCHITECTURE.md). */
  tenants: {
    envVar: 'TENANTS_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [gsi1],
    ttlAttribute: TTL_ATTRIBUTE,
  },
  /** Chat sessions and their messages; expire by TTL. */
  sessions: {
    envVar: 'SESSIONS_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [gsi1],
    ttlAttribute: TTL_ATTRIBUTE,
  },
  /** Usage counters, rate-limit windows, idempotency and send records. */
  usage: {
    envVar: 'USAGE_TABLE',
    partitionKey: pk,
    sortKey: sk,
    globalIndexes: [],
    ttlAttribute: TTL_ATTRIBUTE,
  },
} as const satisfies Record<string, TableDefinition>;

export type TableName = keyof typeof tables;

export interface QueueDefinition {
  readonly envVar: string;
  readonly fifo: boolean;
  /** At least the consuming function's timeout, so a message is not redelivered while still being worked on. */
  readonly visibilityTimeoutSeconds: number;
  /** Receives before a message moves to the queue's dead-letter queue. */
  readonly maxReceiveCount: number;
  readonly retentionDays: number;
}

/**
 * How long each queue's consumer may run. A queue's visibility timeout is derived from it below,
 * and the function definitions take their timeouts from here, so the two cannot drift apart.
 */
const consumerTimeoutSeconds = { ingest: 300, embed: 120, reply: 90, evaluate: 300 } as const;

/**
 * The rule: a queue's visibility timeout is six times its consumer's timeout (AWS's advice for
 * Lambda event sources), so a message is not redelivered while a throttled or retried invocation
 * may still be working on it.
 */
export const VISIBILITY_TIMEOUT_PER_FUNCTION_TIMEOUT = 6;
const visibilityFor = (queue: keyof typeof consumerTimeoutSeconds) =>
  VISIBILITY_TIMEOUT_PER_FUNCTION_TIMEOUT * consumerTimeoutSeconds[queue];

export const queues = {
  /** S3 ObjectCreated notifications for uploaded documents. */
  ingest: {
    envVar: 'INGEST_QUEUE_URL',
    fifo: false,
    visibilityTimeoutSeconds: visibilityFor('ingest'),
    maxReceiveCount: 3,
    retentionDays: 4,
  },
  /** Chunk batches to embed and index, and index deletions: the embed function is the index's only writer. */
  embed: {
    envVar: 'EMBED_QUEUE_URL',
    fifo: false,
    visibilityTimeoutSeconds: visibilityFor('embed'),
    maxReceiveCount: 5,
    retentionDays: 4,
  },
  /** Inbound channel messages, one group per bot and channel user so each user is answered in order. */
  reply: {
    envVar: 'REPLY_QUEUE_URL',
    fifo: true,
    visibilityTimeoutSeconds: visibilityFor('reply'),
    maxReceiveCount: 5,
    retentionDays: 4,
  },
  /**
   * Evaluation runs to do (one message per run). A run still running past its 30-minute deadline
   * (shared/domain/evaluation.ts) shows failed, whatever redelivery is still to come.
   */
  evaluate: {
    envVar: 'EVALUATE_QUEUE_URL',
    fifo: false,
    visibilityTimeoutSeconds: visibilityFor('evaluate'),
    maxReceiveCount: 3,
    retentionDays: 1,
  },
} as const satisfies Record<string, QueueDefinition>;

export type QueueName = keyof typeof queues;

/** The name a queue (or its dead-letter queue) gets under a prefix; FIFO names must end in `.fifo`. */
export function queueName(
  prefix: string,
  name: string,
  definition: { readonly fifo: boolean },
  deadLetter = false,
): string {
  const base = `${prefix}-${name}${deadLetter ? '-dlq' : ''}`;
  return definition.fifo ? `${base}.fifo` : base;
}

export const buckets = {
  /** Uploaded documents: tenants/{tenantId}/bots/{botId}/documents/{documentId}/{filename}. */
  documents: { envVar: 'DOCUMENTS_BUCKET', notifyQueue: 'ingest' as QueueName },
} as const;

export interface FunctionDefinition {
  /** Handler module, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** Lambda response streaming (`awslambda.streamifyResponse`). */
  readonly streaming: boolean;
  /** Tables the function reads and writes (it gets each one's name in the table's `envVar`). */
  readonly tables: readonly TableName[];
  /** Of `tables`, those it only reads: no PutItem, UpdateItem, DeleteItem or BatchWriteItem on them. */
  readonly readOnlyTables?: readonly TableName[];
  /** The global secondary indexes it queries, per table; it may query no other index. */
  readonly queriesIndexes?: { readonly [T in TableName]?: readonly string[] };
  /** Queues the function sends to. */
  readonly sendsTo: readonly QueueName[];
  /** Queue the function consumes, with Lambda event source settings. */
  readonly consumes?: {
    readonly queue: QueueName;
    readonly batchSize: number;
    readonly maxConcurrency: number;
  };
  /** Object access per bucket (none when absent); the function gets the bucket's `envVar`. */
  readonly buckets?: { readonly [B in BucketName]?: readonly BucketAccess[] };
  /** Vector index access: `write` only for the index's one writer (embed), `read` for searchers. */
  readonly search?: 'read' | 'write';
  /**
   * Bedrock models the function may invoke: the deployment's embedding model, any chat model, the
   * deployment's reranking model (`rerank`: the Rerank API, for functions that run retrieval).
   */
  readonly models?: readonly ('embedding' | 'chat' | 'rerank')[];
  /** Runs on a timer (EventBridge in AWS, a timer in the local platform). */
  readonly schedule?: { readonly rateMinutes: number };
  /**
   * Channel credentials through the SecretBox: `seal` stores them (and opens them to disconnect),
   * `open` only reads them. In AWS: the channel key's GenerateDataKey and Decrypt, or Decrypt only.
   */
  readonly channelSecrets?: 'seal' | 'open';
  /**
   * Publishes platform events (a tenant's quota warning) to the on-call topic: sns:Publish on it,
   * its ARN in ONCALL_TOPIC_ARN. Locally the topic lives in fauxqs, with nobody subscribed.
   */
  readonly notifiesOnCall?: boolean;
}

export const functions = {
  admin: {
    entry: 'functions/admin/handler.ts',
    memoryMb: 512,
    timeoutSeconds: 29,
    streaming: false,
    tables: ['tenants', 'sessions', 'usage'],
    // Tenant and key lists, bots by id (tenants); a bot's sessions, listed and cascade-deleted (sessions).
    queriesIndexes: { tenants: ['gsi1'], sessions: ['gsi1'] },
    // Bot and tenant deletes remove document objects and send index deletions to the embed queue;
    // evaluation runs are queued for the evaluate function.
    sendsTo: ['embed', 'evaluate'],
    buckets: { documents: ['delete'] },
    search: 'read',
    models: ['embedding', 'rerank'],
    // Connecting a channel seals its credentials; disconnecting opens them (Telegram's webhook).
    channelSecrets: 'seal',
  },
  upload: {
    entry: 'functions/upload/handler.ts',
    memoryMb: 512,
    timeoutSeconds: 29,
    streaming: false,
    tables: ['tenants'],
    sendsTo: ['embed'],
    // `put` lets it sign browser POST uploads; it never reads what was uploaded.
    buckets: { documents: ['put', 'delete'] },
  },
  ingest: {
    entry: 'functions/ingest/handler.ts',
    memoryMb: 2048,
    timeoutSeconds: consumerTimeoutSeconds.ingest,
    streaming: false,
    // Documents (tenants); the month's tokens a document's embedding must fit in (usage).
    tables: ['tenants', 'usage'],
    readOnlyTables: ['usage'],
    sendsTo: ['embed'],
    buckets: { documents: ['read'] },
    // One document per invocation: extraction is CPU- and memory-bound.
    consumes: { queue: 'ingest', batchSize: 1, maxConcurrency: 10 },
  },
  embed: {
    entry: 'functions/embed/handler.ts',
    memoryMb: 1024,
    timeoutSeconds: consumerTimeoutSeconds.embed,
    streaming: false,
    tables: ['tenants', 'usage'],
    sendsTo: [],
    search: 'write',
    models: ['embedding'],
    consumes: { queue: 'embed', batchSize: 4, maxConcurrency: 10 },
  },
  chat: {
    entry: 'functions/chat/handler.ts',
    memoryMb: 1024,
    timeoutSeconds: 29,
    streaming: false,
    // Writes to tenants only a key's lastUsedAt, and a bot stored before bots had their copy by id
    // (read through gsi1 then, and copied).
    tables: ['tenants', 'sessions', 'usage'],
    queriesIndexes: { tenants: ['gsi1'] },
    sendsTo: [],
    search: 'read',
    models: ['embedding', 'chat', 'rerank'],
    notifiesOnCall: true,
  },
  'chat-stream': {
    entry: 'functions/chat-stream/handler.ts',
    memoryMb: 1024,
    // Streams outlive API Gateway's 29 s buffered limit; the model adapter bounds silences.
    timeoutSeconds: 120,
    streaming: true,
    // Writes to tenants only a key's lastUsedAt, and a bot stored before bots had their copy by id
    // (read through gsi1 then, and copied).
    tables: ['tenants', 'sessions', 'usage'],
    queriesIndexes: { tenants: ['gsi1'] },
    sendsTo: [],
    search: 'read',
    models: ['embedding', 'chat', 'rerank'],
    notifiesOnCall: true,
  },
  webhooks: {
    entry: 'functions/webhooks/handler.ts',
    memoryMb: 512,
    timeoutSeconds: 10,
    streaming: false,
    // The connection, by the bot id in the URL: its one read. It writes nothing (the reply worker
    // records each message and stamps lastInboundAt).
    tables: ['tenants'],
    readOnlyTables: ['tenants'],
    // The bot by id, for a connection stored under the old key until it moves (channels.ts).
    queriesIndexes: { tenants: ['gsi1'] },
    sendsTo: ['reply'],
    // Opens the connection's secrets to check signatures and the verify token.
    channelSecrets: 'open',
  },
  reply: {
    entry: 'functions/reply/handler.ts',
    memoryMb: 1024,
    // A chat turn (25 s of model time at most) and a send (30 s with its retries), with room to spare.
    timeoutSeconds: consumerTimeoutSeconds.reply,
    streaming: false,
    // The bot and the connection by the bot's id (gsi1 for a bot stored before its copy by id); a
    // connection's delivery status and lastInboundAt are its writes to tenants (and moving a
    // connection stored under the old key, once).
    tables: ['tenants', 'sessions', 'usage'],
    queriesIndexes: { tenants: ['gsi1'] },
    sendsTo: [],
    search: 'read',
    models: ['embedding', 'chat', 'rerank'],
    channelSecrets: 'open',
    notifiesOnCall: true,
    // One message per invocation: a turn takes seconds with a hosted model, beside which an
    // invocation costs nothing, and a slow turn holds up no other user's messages in its batch (nor
    // needs a timeout for ten turns). Users are answered in parallel (one FIFO group each), up to
    // 100 at once: replies/s ≈ 100 ÷ a turn's time (1–2 s), 50–100/s, within the account's 1000
    // concurrent executions beside chat; beyond that the model's quota is the limit. Lambda runs
    // no more than the groups with a message waiting, and a bot's own rate limits bound its share.
    consumes: { queue: 'reply', batchSize: 1, maxConcurrency: 100 },
  },
  evaluate: {
    entry: 'functions/evaluate/handler.ts',
    memoryMb: 1024,
    // Up to 200 questions, each an embedding call and an index query (4 at a time).
    timeoutSeconds: consumerTimeoutSeconds.evaluate,
    streaming: false,
    // Reads bots and test questions (tenants); writes runs, their results and usage (usage).
    tables: ['tenants', 'usage'],
    readOnlyTables: ['tenants'],
    sendsTo: [],
    search: 'read',
    // Retrieval exactly as the bot's: the embedding model, and the reranker for bots that use one.
    models: ['embedding', 'rerank'],
    // One run per invocation; a few at a time, so runs do not crowd out the index's other readers.
    consumes: { queue: 'evaluate', batchSize: 1, maxConcurrency: 5 },
  },
  sweeper: {
    entry: 'functions/sweeper/handler.ts',
    memoryMb: 256,
    timeoutSeconds: 60,
    streaming: false,
    tables: ['tenants'],
    // Documents due to be swept, listed through gsi1.
    queriesIndexes: { tenants: ['gsi1'] },
    sendsTo: [],
    schedule: { rateMinutes: 5 },
  },
} as const satisfies Record<string, FunctionDefinition>;

export type FunctionName = keyof typeof functions;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';
/** Who may call a route: anyone, the platform operator, or a tenant admin key. */
export type RouteAuth = 'none' | 'operator' | 'tenant';

export interface RouteDefinition {
  readonly method: HttpMethod;
  /** API Gateway resource path; `{name}` segments become path parameters. */
  readonly path: string;
  readonly function: FunctionName;
  readonly auth: RouteAuth;
}

export const routes = [
  { method: 'GET', path: '/health', function: 'admin', auth: 'none' },
  { method: 'GET', path: '/openapi.json', function: 'admin', auth: 'none' },
  { method: 'POST', path: '/admin/tenants', function: 'admin', auth: 'operator' },
  { method: 'GET', path: '/admin/tenants', function: 'admin', auth: 'operator' },
  { method: 'GET', path: '/admin/tenants/{tenantId}', function: 'admin', auth: 'operator' },
  { method: 'PATCH', path: '/admin/tenants/{tenantId}', function: 'admin', auth: 'operator' },
  { method: 'DELETE', path: '/admin/tenants/{tenantId}', function: 'admin', auth: 'operator' },
  { method: 'POST', path: '/admin/keys', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/keys', function: 'admin', auth: 'tenant' },
  { method: 'DELETE', path: '/admin/keys/{keyId}', function: 'admin', auth: 'tenant' },
  { method: 'POST', path: '/admin/bots', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}', function: 'admin', auth: 'tenant' },
  { method: 'PATCH', path: '/admin/bots/{botId}', function: 'admin', auth: 'tenant' },
  { method: 'DELETE', path: '/admin/bots/{botId}', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/channels', function: 'admin', auth: 'tenant' },
  { method: 'PUT', path: '/admin/bots/{botId}/channels/{channel}', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/channels/{channel}', function: 'admin', auth: 'tenant' },
  { method: 'DELETE', path: '/admin/bots/{botId}/channels/{channel}', function: 'admin', auth: 'tenant' },
  { method: 'POST', path: '/admin/bots/{botId}/documents', function: 'upload', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/documents', function: 'upload', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/documents/{documentId}', function: 'upload', auth: 'tenant' },
  {
    method: 'DELETE',
    path: '/admin/bots/{botId}/documents/{documentId}',
    function: 'upload',
    auth: 'tenant',
  },
  { method: 'POST', path: '/admin/bots/{botId}/search', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/usage', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/sessions', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/sessions/{sessionId}', function: 'admin', auth: 'tenant' },
  { method: 'POST', path: '/admin/bots/{botId}/test-questions', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/test-questions', function: 'admin', auth: 'tenant' },
  {
    method: 'PUT',
    path: '/admin/bots/{botId}/test-questions/{questionId}',
    function: 'admin',
    auth: 'tenant',
  },
  {
    method: 'DELETE',
    path: '/admin/bots/{botId}/test-questions/{questionId}',
    function: 'admin',
    auth: 'tenant',
  },
  { method: 'POST', path: '/admin/bots/{botId}/evaluations', function: 'admin', auth: 'tenant' },
  { method: 'GET', path: '/admin/bots/{botId}/evaluations', function: 'admin', auth: 'tenant' },
  {
    method: 'GET',
    path: '/admin/bots/{botId}/evaluations/{evaluationId}',
    function: 'admin',
    auth: 'tenant',
  },
  // Chat: a tenant key, or anonymous calls to public bots from their allowed origins (the
  // function tells them apart, so the table says `none`); OPTIONS answers browsers' preflights.
  { method: 'GET', path: '/chat/{botId}', function: 'chat', auth: 'none' },
  { method: 'POST', path: '/chat/{botId}', function: 'chat', auth: 'none' },
  { method: 'OPTIONS', path: '/chat/{botId}', function: 'chat', auth: 'none' },
  { method: 'POST', path: '/chat/{botId}/stream', function: 'chat-stream', auth: 'none' },
  { method: 'OPTIONS', path: '/chat/{botId}/stream', function: 'chat', auth: 'none' },
  { method: 'DELETE', path: '/chat/{botId}/sessions/{sessionId}', function: 'chat', auth: 'none' },
  { method: 'OPTIONS', path: '/chat/{botId}/sessions/{sessionId}', function: 'chat', auth: 'none' },
  // Messaging platforms: they prove themselves with the channel's secret, which the function checks.
  { method: 'GET', path: '/webhooks/{channel}/{botId}', function: 'webhooks', auth: 'none' },
  { method: 'POST', path: '/webhooks/{channel}/{botId}', function: 'webhooks', auth: 'none' },
] as const satisfies readonly RouteDefinition[];

export type RouteKey = `${(typeof routes)[number]['method']} ${(typeof routes)[number]['path']}`;

export function routeKey(route: { method: string; path: string }): string {
  return `${route.method} ${route.path}`;
}

/**
 * Parley's own CloudWatch metrics (embedded metric format, through Powertools), in the namespace
 * `Parley/<stage>` with the dimension `service`. The stack's alarms name them from here.
 */
export const metricNames = {
  /** A reply that may have reached the user but was not confirmed (a crash or a timeout mid-send): never resent. */
  unconfirmedReplies: 'UnconfirmedReplies',
  /** Replies the platform took. */
  repliesSent: 'RepliesSent',
  /** Replies the platform refused, or that failed on their last attempt. */
  replyFailures: 'ReplyFailures',
  /** Channel messages over a rate limit or quota (answered with one polite notice per window). */
  repliesLimited: 'RepliesLimited',
  /** Channel messages not answered because the platform's messaging window closed first. */
  repliesExpired: 'RepliesExpired',
  /** Chat turns answered with the bot's fallback message because the model provider stayed down. */
  modelFallbacks: 'ModelFallbacks',
  /** Chat turns whose search of the bot's documents failed (answered with the fallback message). */
  retrievalFailures: 'RetrievalFailures',
  /** Chat turns answered, fallbacks included (API, web and channels). */
  chatTurns: 'ChatTurns',
  /** The model's input and output tokens of those turns. */
  inputTokens: 'InputTokens',
  outputTokens: 'OutputTokens',
  /** Their cost in US dollars, from the price table (0 for models it does not know). */
  chatCostUsd: 'ChatCostUsd',
  /** Per turn: admission, session, history and retrieval, before the model is asked. */
  prepareLatency: 'PrepareLatency',
  /** Per turn: the model call, to its last token (or to the fallback). */
  modelLatency: 'ModelLatency',
  /** Per streamed turn: from the request to the first text sent. */
  firstTokenLatency: 'FirstTokenLatency',
  /** Per turn: from the request to the stored reply. */
  turnLatency: 'TurnLatency',
  /** Ingestion: pages (or sections) read from uploaded documents, and the chunks cut from them. */
  pagesExtracted: 'PagesExtracted',
  chunksCreated: 'ChunksCreated',
  /** Ingestion, per document: reading the object, extracting its text and chunking it. */
  extractLatency: 'ExtractLatency',
  /** Indexing, per batch: the embedding calls, and the writes to the vector index. */
  embedLatency: 'EmbedLatency',
  indexLatency: 'IndexLatency',
  chunksIndexed: 'ChunksIndexed',
  embeddingTokens: 'EmbeddingTokens',
  /** Documents that became ready, and their time from upload request to ready. */
  documentsReady: 'DocumentsReady',
  ingestionLatency: 'IngestionLatency',
  /** Documents that ended failed (the reason is on the document). */
  documentsFailed: 'DocumentsFailed',
  /** Tenants that reached 80 % of a monthly quota (each also a message on the on-call topic). */
  quotaWarnings: 'QuotaWarnings',
} as const;
export type MetricName = (typeof metricNames)[keyof typeof metricNames];

/** CloudWatch's unit for each metric: latencies in milliseconds, cost in dollars, the rest counts. */
export const metricUnit = (name: MetricName): 'Milliseconds' | 'None' | 'Count' =>
  name.endsWith('Latency') ? 'Milliseconds' : name.endsWith('Usd') ? 'None' : 'Count';

export const metricsNamespace = (stage: string) => `Parley/${stage}`;

/** API Gateway rejects bodies over 10 MB before any function runs; the local gateway does the same. */
export const API_MAX_BODY_BYTES = 10 * 1024 * 1024;

export type BucketName = keyof typeof buckets;

/** `read`: GetObject; `put`: PutObject (presigned POST uploads); `delete`: DeleteObject; `list`: ListBucket. */
export type BucketAccess = 'read' | 'put' | 'delete' | 'list';

export interface BucketDefinition {
  readonly envVar: string;
  /** Queue that receives the bucket's ObjectCreated notifications. */
  readonly notifyQueue?: QueueName;
}

/**
 * Everything above in one value. The CDK stack and the local platform's provisioning both take a
 * `ResourceDefinitions` (defaulting to `resources`), so a test can change one definition and see
 * the change in both. Values are widened from the literal types of the `as const` declarations.
 */
export interface ResourceDefinitions {
  readonly tables: { readonly [T in TableName]: TableDefinition };
  readonly queues: { readonly [Q in QueueName]: QueueDefinition };
  readonly buckets: { readonly [B in BucketName]: BucketDefinition };
  readonly functions: { readonly [F in FunctionName]: FunctionDefinition };
  readonly routes: readonly RouteDefinition[];
}

export const resources: ResourceDefinitions = { tables, queues, buckets, functions, routes };

/**
 * Request content types API Gateway hands to functions base64-encoded (`isBase64Encoded: true`);
 * every other body arrives as UTF-8 text. The REST API's `binaryMediaTypes` and the local gateway
 * both take this list, so a webhook's raw bytes reach the function the same way in both.
 */
export const API_BINARY_MEDIA_TYPES: readonly string[] = [
  'application/octet-stream',
  'application/pdf',
  'application/zip',
  'multipart/form-data',
  'image/*',
  'audio/*',
  'video/*',
];
