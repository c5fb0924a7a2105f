import * as z from 'zod';
import { DOCUMENT_TYPES, type DocumentType } from '../ingestion/types.ts';

export const DOCUMENT_STATUSES = ['awaiting_upload', 'processing', 'ready', 'failed'] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

/** A document of a bot's knowledge base, as stored. */
export interface KnowledgeDocument {
  id: string;
  tenantId: string;
  botId: string;
  filename: string;
  contentType: string;
  type: DocumentType;
  /** Declared by the client; the ingest worker checks the real object's size. */
  size: number;
  status: DocumentStatus;
  chunksTotal: number;
  chunksIndexed: number;
  error?: string;
  /** Object key in the documents bucket. */
  key: string;
  /** When an upload that never arrived is given up (ISO time). */
  uploadDeadline: string;
  /** The ingestion attempt that claimed it (the queue message's id): one attempt at a time. */
  attemptId?: string;
  createdAt: string;
  updatedAt: string;
  /** The id of the API request that added it, carried into the ingest and embed logs. */
  requestId?: string;
}

/** Slashes would change the object key's path; control characters have no place in a name. */
const isPlainName = (name: string) =>
  ![...name].some((c) => c === '/' || c === '\\' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

export const DocumentCreateSchema = z
  .strictObject({
    filename: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .refine(isPlainName, 'must be a file name, without slashes or control characters')
      .refine((name) => name !== '.' && name !== '..', 'must be a file name'),
    contentType: z.string().trim().min(1).max(200),
    size: z.int().min(1),
  })
  .meta({ id: 'DocumentCreate' });

export const DocumentSchema = z
  .object({
    id: z.string(),
    filename: z.string(),
    contentType: z.string(),
    size: z.int(),
    status: z.enum(DOCUMENT_STATUSES),
    chunksTotal: z.int(),
    chunksIndexed: z.int(),
    error: z.string().optional().describe('Why the document failed, in words a person understands'),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Document' });

export type DocumentView = z.infer<typeof DocumentSchema>;

export const toDocumentView = (d: KnowledgeDocument): DocumentView => ({
  id: d.id,
  filename: d.filename,
  contentType: d.contentType,
  size: d.size,
  status: d.status,
  chunksTotal: d.chunksTotal,
  chunksIndexed: d.chunksIndexed,
  ...(d.error !== undefined && { error: d.error }),
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

/**
 * The document type a file name and content type stand for, or a reason why they don't: the
 * extension decides, and a content type that names another type is refused (browsers send
 * `application/octet-stream` for unknown types, which is accepted).
 */
export function documentTypeOf(
  filename: string,
  contentType: string,
): { type: DocumentType } | { problem: { path: string; message: string } } {
  const lower = filename.toLowerCase();
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const byExtension = (Object.keys(DOCUMENT_TYPES) as DocumentType[]).find((type) =>
    DOCUMENT_TYPES[type].extensions.some((ext) => lower.endsWith(ext)),
  );
  if (!byExtension)
    return { problem: { path: 'filename', message: 'must end in .pdf, .docx, .txt, .md, .csv or .html' } };
  const allowed: readonly string[] = DOCUMENT_TYPES[byExtension].contentTypes;
  if (mediaType !== 'application/octet-stream' && !allowed.includes(mediaType)) {
    const message = `does not match the file name: a .${byExtension} file is ${allowed.join(' or ')}`;
    return { problem: { path: 'contentType', message } };
  }
  return { type: byExtension };
}

/** Object key of a document: tenants/{tenantId}/bots/{botId}/documents/{documentId}/{filename}. */
export const documentKey = (d: Pick<KnowledgeDocument, 'tenantId' | 'botId' | 'id' | 'filename'>) =>
  `tenants/${d.tenantId}/bots/${d.botId}/documents/${d.id}/${d.filename}`;

const KEY_PATTERN = /^tenants\/([^/]+)\/bots\/([^/]+)\/documents\/([^/]+)\/[^/]+$/;

export function parseDocumentKey(
  key: string,
): { tenantId: string; botId: string; documentId: string } | undefined {
  const match = KEY_PATTERN.exec(key);
  return match?.[1] && match[2] && match[3]
    ? { tenantId: match[1], botId: match[2], documentId: match[3] }
    : undefined;
}
