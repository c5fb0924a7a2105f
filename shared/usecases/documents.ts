import {
  type DocumentView,
  documentKey,
  documentTypeOf,
  type KnowledgeDocument,
  toDocumentView,
} from '../domain/document.ts';
import { BadRequestError, ConflictError, NotFoundError, PayloadTooLargeError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import type { DocumentRef, Page, PageRequest } from '../ports/repositories.ts';
import { queues } from '../resources.ts';
import type { KnowledgeDeps, TenantDeps } from './deps.ts';
import { getBot, getTenant } from './lookups.ts';

/** How long a presigned upload form stays valid. */
export const UPLOAD_EXPIRES_SECONDS = 15 * 60;
/** After this, a document whose upload never arrived is marked failed by the sweeper. */
export const UPLOAD_GRACE_SECONDS = 5 * 60;

/**
 * After this, a document still processing is failed by the sweeper: every delivery of its upload
 * event and of its chunk batches has had its full visibility timeout, and an hour more for a
 * backlog on the embed queue. Only a crash or a lost message leaves a document processing so long.
 */
export const PROCESSING_STALE_SECONDS =
  queues.ingest.visibilityTimeoutSeconds * queues.ingest.maxReceiveCount +
  queues.embed.visibilityTimeoutSeconds * queues.embed.maxReceiveCount +
  3600;

/** When a claim made at `at` goes stale (ISO time). */
export const processingStaleAt = (at: Date) =>
  new Date(at.getTime() + PROCESSING_STALE_SECONDS * 1000).toISOString();

export async function requestUpload(
  deps: KnowledgeDeps,
  tenantId: string,
  botId: string,
  input: { filename: string; contentType: string; size: number },
  requestId?: string,
): Promise<{ document: DocumentView; upload: { url: string; fields: Record<string, string> } }> {
  const [tenant] = await Promise.all([getTenant(deps, tenantId), getBot(deps, tenantId, botId)]);
  const typed = documentTypeOf(input.filename, input.contentType);
  if ('problem' in typed) throw new BadRequestError('Unsupported document', [typed.problem]);
  if (input.size > tenant.plan.maxUploadBytes) {
    throw new PayloadTooLargeError(
      `The file is ${input.size} bytes; this plan accepts documents up to ${tenant.plan.maxUploadBytes} bytes`,
    );
  }
  const now = deps.clock.now();
  const id = newId('doc');
  const document: KnowledgeDocument = {
    id,
    tenantId,
    botId,
    filename: input.filename,
    contentType: input.contentType,
    type: typed.type,
    size: input.size,
    status: 'awaiting_upload',
    chunksTotal: 0,
    chunksIndexed: 0,
    key: documentKey({ tenantId, botId, id, filename: input.filename }),
    uploadDeadline: new Date(
      now.getTime() + (UPLOAD_EXPIRES_SECONDS + UPLOAD_GRACE_SECONDS) * 1000,
    ).toISOString(),
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...(requestId && { requestId }),
  };
  if ((await deps.repos.documents.create(document, tenant.plan.maxDocuments)) === 'limit') {
    throw new ConflictError(
      `This plan allows ${tenant.plan.maxDocuments} documents; delete some before adding more`,
    );
  }
  const upload = await deps.blobs.presignUpload(document.key, {
    contentType: input.contentType,
    size: input.size,
    expiresSeconds: UPLOAD_EXPIRES_SECONDS,
  });
  return { document: toDocumentView(document), upload };
}

export async function getDocument(deps: TenantDeps, ref: DocumentRef): Promise<DocumentView> {
  const document = await deps.repos.documents.get(ref);
  if (!document) throw new NotFoundError('No such document');
  return toDocumentView(document);
}

export async function listDocuments(
  deps: TenantDeps,
  tenantId: string,
  botId: string,
  page: PageRequest,
): Promise<Page<DocumentView>> {
  await getBot(deps, tenantId, botId);
  const result = await deps.repos.documents.list(tenantId, botId, page);
  return { items: result.items.map(toDocumentView), nextCursor: result.nextCursor };
}

/**
 * Removes a document: its record (so an ingestion in flight stops at its next check), its object,
 * and its chunks (through the index's one writer). False if there was no such document.
 */
export async function removeDocument(deps: KnowledgeDeps, ref: DocumentRef): Promise<boolean> {
  const removed = await deps.repos.documents.delete(ref);
  if (!removed) return false;
  await deps.blobs.delete(removed.key);
  await deps.embedQueue.send([{ kind: 'delete-document', ...ref }]);
  return true;
}

export async function deleteDocument(deps: KnowledgeDeps, ref: DocumentRef): Promise<void> {
  if (!(await removeDocument(deps, ref))) throw new NotFoundError('No such document');
}

/** Fails documents whose upload never arrived, and documents stuck processing; returns how many. */
export async function sweepDocuments(deps: TenantDeps & Pick<KnowledgeDeps, 'metrics'>): Promise<number> {
  const { documents } = deps.repos;
  const uploads = await sweep(
    deps,
    documents.listExpiredUploads,
    'The upload never arrived; upload the file again',
  );
  const stale = await sweep(
    deps,
    documents.listStaleProcessing,
    'Processing did not finish (reading or indexing the file failed repeatedly); upload it again',
  );
  return uploads + stale;
}

async function sweep(
  deps: TenantDeps & Pick<KnowledgeDeps, 'metrics'>,
  list: (now: string, limit: number) => Promise<KnowledgeDocument[]>,
  reason: string,
): Promise<number> {
  const now = deps.clock.now().toISOString();
  let swept = 0;
  for (;;) {
    const due = await list(now, 100);
    let marked = 0;
    for (const document of due) {
      const ref = { tenantId: document.tenantId, botId: document.botId, documentId: document.id };
      if (await deps.repos.documents.markFailed(ref, reason, now)) marked++;
    }
    if (marked > 0) deps.metrics?.({ DocumentsFailed: marked });
    swept += marked;
    if (due.length < 100) return swept;
  }
}
