import type { EmbedMessage, IndexMessage } from '../ingestion/messages.ts';
import { logger } from '../logging.ts';
import { msBetween } from '../metrics.ts';
import { EmbeddingError } from '../ports/embedder.ts';
import { chunkId, type IndexedChunk, searchableText } from '../ports/vector-index.ts';
import type { EmbedDeps } from './deps.ts';

/**
 * Applies one embed-queue message. Indexing is idempotent: chunk ids are deterministic, so a
 * redelivered batch replaces what it wrote, and the batch number makes it count once toward
 * `chunksIndexed`. `finalAttempt` is true on the last delivery before the dead-letter queue:
 * then a failure also marks the document failed, so no document waits forever.
 */
export async function applyEmbedMessage(
  deps: EmbedDeps,
  message: EmbedMessage,
  finalAttempt: boolean,
): Promise<void> {
  switch (message.kind) {
    case 'index':
      try {
        await indexBatch(deps, message);
      } catch (error) {
        if (error instanceof EmbeddingError && !error.retryable) {
          // The provider refused the input itself: retrying cannot help, so fail it now.
          const reason = `The embedding service refused this document's text (${error.message})`;
          await markFailed(deps, message, reason);
          logger.warn('document failed: embedding refused', { error });
          return;
        }
        if (finalAttempt) {
          const reason =
            'Indexing failed repeatedly (the embedding service or the index was unavailable); upload the file again';
          await markFailed(deps, message, reason);
        }
        throw error;
      }
      return;
    case 'delete-document':
      await deps.index.deleteDocument(message, message.documentId);
      return;
    case 'delete-bot':
      await deps.index.deleteBot(message);
      return;
    case 'delete-tenant':
      await deps.index.deleteTenant(message.tenantId);
      return;
  }
}

const documentOf = (message: IndexMessage) => ({
  tenantId: message.tenantId,
  botId: message.botId,
  documentId: message.documentId,
});

/** Marks the document failed, and counts it if it was (not if it was deleted meanwhile). */
async function markFailed(deps: EmbedDeps, message: IndexMessage, reason: string): Promise<void> {
  if (await deps.repos.documents.markFailed(message, reason, deps.clock.now().toISOString())) {
    deps.metrics?.({ DocumentsFailed: 1 }, documentOf(message));
  }
}

async function indexBatch(deps: EmbedDeps, message: IndexMessage): Promise<void> {
  const { repos, index, clock } = deps;
  const scope = { tenantId: message.tenantId, botId: message.botId };
  const ref = documentOf(message);
  logger.appendKeys({
    ...ref,
    batch: message.batch,
    ...(message.requestId && { requestId: message.requestId }),
  });

  const before = await repos.documents.get(ref);
  if (!before) {
    // Deleted while queued: make sure nothing of it stays in the index.
    await index.deleteDocument(scope, ref.documentId);
    logger.info('document no longer exists; batch dropped');
    return;
  }
  if (before.status === 'failed') {
    logger.info('document already failed; batch dropped');
    return;
  }

  const embedStarted = performance.now();
  const { vectors, tokens } = await embedChunks(deps, message);
  const indexStarted = performance.now();
  await index.upsert(chunksOf(message, vectors));

  const indexed = performance.now();
  const counted = await repos.documents.countIndexedBatch(
    ref,
    message.batch,
    message.chunks.length,
    clock.now().toISOString(),
  );
  if (counted.outcome === 'missing') {
    // Deleted while this batch was being embedded: take back what was just written.
    await index.deleteDocument(scope, ref.documentId);
    logger.info('document deleted during indexing; its chunks were removed');
    return;
  }
  if (counted.outcome === 'counted') {
    await deps.usage.add(ref.tenantId, ref.botId, clock.now().toISOString().slice(0, 10), {
      embeddingTokens: tokens,
    });
  }
  const { document } = counted;
  const ready =
    document.chunksTotal > 0 &&
    document.chunksIndexed >= document.chunksTotal &&
    (await repos.documents.markReady(ref, clock.now().toISOString()));
  if (ready) logger.info('document ready', { chunks: document.chunksTotal });
  deps.metrics?.(
    {
      EmbedLatency: msBetween(embedStarted, indexStarted),
      IndexLatency: msBetween(indexStarted, indexed),
      // A redelivered batch is indexed again but counted once, like chunksIndexed.
      ...(counted.outcome === 'counted' && { ChunksIndexed: message.chunks.length, EmbeddingTokens: tokens }),
      ...(ready && {
        DocumentsReady: 1,
        IngestionLatency: clock.now().getTime() - Date.parse(document.createdAt),
      }),
    },
    ref,
  );
}

/** The batch's vectors, in the embedder's batches: each chunk with where it sits (title › heading path, then its text). */
async function embedChunks(
  deps: Pick<EmbedDeps, 'embedder'>,
  message: IndexMessage,
): Promise<{ vectors: number[][]; tokens: number }> {
  const { embedder } = deps;
  const texts = message.chunks.map((chunk) =>
    searchableText({
      text: chunk.text,
      ...(message.title !== undefined && { title: message.title }),
      ...(chunk.heading !== undefined && { heading: chunk.heading }),
      ...(chunk.headingPath !== undefined && { headingPath: chunk.headingPath }),
    }),
  );
  const vectors: number[][] = [];
  let tokens = 0;
  for (let i = 0; i < texts.length; i += embedder.maxBatch) {
    const embedded = await embedder.embed(texts.slice(i, i + embedder.maxBatch));
    vectors.push(...embedded.vectors);
    tokens += embedded.tokens;
  }
  return { vectors, tokens };
}

/** The batch's chunks as the index stores them, each with its vector. */
const chunksOf = (message: IndexMessage, vectors: readonly number[][]): IndexedChunk[] =>
  message.chunks.map((chunk, i) => ({
    tenantId: message.tenantId,
    botId: message.botId,
    id: chunkId(message.documentId, chunk.ordinal),
    documentId: message.documentId,
    ordinal: chunk.ordinal,
    filename: message.filename,
    ...(message.title !== undefined && { title: message.title }),
    text: chunk.text,
    ...(chunk.page !== undefined && { page: chunk.page }),
    ...(chunk.heading !== undefined && { heading: chunk.heading }),
    ...(chunk.headingPath !== undefined && { headingPath: chunk.headingPath }),
    vector: vectors[i] ?? [],
  }));
