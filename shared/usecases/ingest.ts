import { type Bot, chunkingOf } from '../domain/bot.ts';
import { type KnowledgeDocument, parseDocumentKey } from '../domain/document.ts';
import { estimateTokens, nextPeriodStart, periodOf } from '../domain/limits.ts';
import type { Tenant } from '../domain/tenant.ts';
import { chunkDocument } from '../ingestion/chunker.ts';
import { extractInSandbox } from '../ingestion/extract-sandbox.ts';
import { clip, type IndexMessage, MAX_TITLE_CHARS, wireHeadingPath } from '../ingestion/messages.ts';
import { checkDeclaredType } from '../ingestion/sniff.ts';
import { type Chunk, ExtractionError } from '../ingestion/types.ts';
import { logger } from '../logging.ts';
import { msBetween } from '../metrics.ts';
import type { UsageRepository } from '../ports/usage.ts';
import { searchableText } from '../ports/vector-index.ts';
import type { KnowledgeDeps } from './deps.ts';
import { processingStaleAt } from './documents.ts';

export interface IngestDeps extends KnowledgeDeps {
  /** The month's token counters, which the document's embedding must fit in. */
  usage: Pick<UsageRepository, 'period'>;
}

/** Chunks per embed message: small enough for SQS (256 KiB) and for one embedding call. */
const CHUNKS_PER_BATCH = 16;
const MAX_BATCH_TEXT_BYTES = 128 * 1024;

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export type IngestOutcome = 'queued' | 'failed' | 'skipped';

/** The document an upload's key names (a type alias, so it also passes as metric dimensions). */
type DocumentRef = NonNullable<ReturnType<typeof parseDocumentKey>>;

/** An upload this delivery has claimed for processing. */
interface Claimed {
  readonly ref: DocumentRef;
  readonly document: KnowledgeDocument;
  readonly tenant: Tenant;
  readonly bot: Bot;
}

/**
 * Turns an uploaded object into chunk batches on the embed queue. Failures the uploader can fix
 * (wrong type, no text, too large, password, a decompression bomb, extraction past its deadline or
 * memory) end the document `failed` with a reason; anything else (S3 or DynamoDB unavailable)
 * throws, so the queue retries and finally dead-letters it.
 */
export async function ingestObject(deps: IngestDeps, key: string, attemptId: string): Promise<IngestOutcome> {
  const claimed = await claimUpload(deps, key, attemptId);
  if (!claimed) return 'skipped';
  const { ref, document, tenant } = claimed;
  const fail = (reason: string) => failDocument(deps, ref, reason);

  // The local S3 does not enforce the upload policy, and clients lie: check the real object.
  const size = await deps.blobs.size(key);
  if (size === undefined) return fail('The uploaded file could not be found; upload it again');
  if (size > tenant.plan.maxUploadBytes) {
    return fail(
      `The file is ${megabytes(size)}; this plan accepts documents up to ${megabytes(tenant.plan.maxUploadBytes)}`,
    );
  }

  const read = await readChunks(deps, key, claimed);
  if ('failed' in read) return fail(read.failed);
  const { chunks, title } = read;
  if (chunks.length === 0) return fail('No extractable text: the document contains no text');
  const overBudget = await embeddingOverBudget(deps, tenant, chunks, title);
  if (overBudget) return fail(overBudget);

  const { repos, clock } = deps;
  if (!(await repos.documents.setChunksTotal(ref, chunks.length, attemptId, clock.now().toISOString()))) {
    logger.info('document was deleted or failed while it was being read; dropped');
    return 'skipped';
  }
  await deps.embedQueue.send(
    toBatches(chunks, title).map((batch, n) => ({
      kind: 'index',
      ...ref,
      filename: document.filename,
      ...(title && { title }),
      batch: n,
      chunks: batch,
      ...(document.requestId && { requestId: document.requestId }),
    })),
  );
  logger.info('document queued for indexing', { chunks: chunks.length });
  return 'queued';
}

/**
 * The document, tenant and bot of an upload, once this delivery has claimed the document for
 * processing; undefined (logged) when the object is no upload, its records are gone, or the
 * document is not awaiting this upload or another delivery has it.
 */
async function claimUpload(deps: IngestDeps, key: string, attemptId: string): Promise<Claimed | undefined> {
  const ref = parseDocumentKey(key);
  if (!ref) {
    logger.warn('object is not a document upload; ignored', { key });
    return undefined;
  }
  const { tenantId, botId } = ref;
  logger.appendKeys(ref);
  const { repos, clock } = deps;
  const [document, tenant, bot] = await Promise.all([
    repos.documents.get(ref),
    repos.tenants.get(tenantId),
    repos.bots.get(tenantId, botId),
  ]);
  if (document?.requestId) logger.appendKeys({ requestId: document.requestId });
  if (!document || !tenant || !bot) {
    logger.info('document, bot or tenant no longer exists; upload dropped', { key });
    if (!document) await deps.blobs.delete(key);
    return undefined;
  }
  const at = clock.now();
  const claim = { id: attemptId, at: at.toISOString(), staleAt: processingStaleAt(at) };
  if (document.key !== key || !(await repos.documents.startProcessing(ref, claim))) {
    logger.info('document is not awaiting this upload, or another delivery has it; ignored', {
      key,
      status: document.status,
    });
    return undefined;
  }
  return { ref, document, tenant, bot };
}

async function failDocument(deps: IngestDeps, ref: DocumentRef, reason: string): Promise<'failed'> {
  // Counted only if marked: a document deleted meanwhile did not fail.
  if (await deps.repos.documents.markFailed(ref, reason, deps.clock.now().toISOString())) {
    deps.metrics?.({ DocumentsFailed: 1 }, ref);
  }
  logger.info('document failed', { reason });
  return 'failed';
}

/**
 * The object's text, extracted in a worker under a deadline and a memory ceiling, as chunks; or
 * why it cannot be read, for the admin.
 */
async function readChunks(
  deps: IngestDeps,
  key: string,
  { ref, document, bot }: Claimed,
): Promise<{ chunks: Chunk[]; title: string | undefined } | { failed: string }> {
  try {
    const started = performance.now();
    const bytes = await deps.blobs.read(key);
    checkDeclaredType(bytes, document.type);
    const extracted = await extractInSandbox(bytes, document.type);
    const chunks = chunkDocument(extracted, chunkingOf(bot));
    const title = extracted.title && clip(extracted.title, MAX_TITLE_CHARS);
    deps.metrics?.(
      { PagesExtracted: extracted.units, ChunksCreated: chunks.length, ExtractLatency: msBetween(started) },
      ref,
    );
    return { chunks, title };
  } catch (error) {
    if (error instanceof ExtractionError) return { failed: error.reason };
    throw error;
  }
}

/**
 * Why the document's embedding does not fit in what is left of the month's tokens, if it does not:
 * checked before anything is queued, so a document the plan cannot pay for costs nothing.
 */
async function embeddingOverBudget(
  deps: IngestDeps,
  tenant: Tenant,
  chunks: readonly Chunk[],
  title: string | undefined,
): Promise<string | undefined> {
  const texts = chunks.map((chunk) =>
    searchableText({
      text: chunk.text,
      ...(title !== undefined && { title }),
      ...(chunk.heading !== undefined && { heading: chunk.heading }),
      ...(chunk.headingPath !== undefined && { headingPath: chunk.headingPath }),
    }),
  );
  const needed = estimateTokens(texts);
  const period = periodOf(deps.clock.now());
  const used = (await deps.usage.period(tenant.id, period)).held;
  const left = Math.max(0, tenant.plan.monthlyTokens - used);
  if (needed <= left) return undefined;
  return (
    `Indexing this document needs about ${needed.toLocaleString('en-US')} tokens; this plan has ` +
    `${left.toLocaleString('en-US')} left this month (it renews on ${nextPeriodStart(period)})`
  );
}

/** Chunks in batches of at most 16 and 128 KiB of text, heading paths and the title included. */
function toBatches(chunks: Chunk[], title: string | undefined): IndexMessage['chunks'][] {
  const batches: IndexMessage['chunks'][] = [];
  let current: IndexMessage['chunks'] = [];
  const titleBytes = title ? Buffer.byteLength(title) : 0;
  let bytes = titleBytes;
  for (const chunk of chunks) {
    const headingPath = wireHeadingPath(chunk.headingPath);
    let size = Buffer.byteLength(chunk.text) + (chunk.heading ? Buffer.byteLength(chunk.heading) : 0);
    for (const entry of headingPath ?? []) size += Buffer.byteLength(entry);
    if (current.length === CHUNKS_PER_BATCH || (current.length > 0 && bytes + size > MAX_BATCH_TEXT_BYTES)) {
      batches.push(current);
      current = [];
      bytes = titleBytes;
    }
    current.push({
      ordinal: chunk.ordinal,
      text: chunk.text,
      ...(chunk.page !== undefined && { page: chunk.page }),
      ...(chunk.heading !== undefined && { heading: chunk.heading }),
      ...(headingPath && { headingPath }),
    });
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
