import * as z from 'zod';
import { DocumentCreateSchema, DocumentSchema } from '../../shared/domain/document.ts';
import { PageQuerySchema, pageOf } from '../../shared/http/pagination.ts';
import { json, noContent } from '../../shared/http/response.ts';
import { defineRoute, type RouteTable, tenantOf } from '../../shared/http/router.ts';
import type { KnowledgeDeps } from '../../shared/usecases/deps.ts';
import {
  deleteDocument,
  getDocument,
  listDocuments,
  requestUpload,
} from '../../shared/usecases/documents.ts';

const UploadSchema = z
  .object({
    document: DocumentSchema,
    upload: z.object({
      url: z.string().describe('POST the form here: the fields first, then the file as `file`'),
      fields: z.record(z.string(), z.string()),
    }),
  })
  .meta({ id: 'DocumentUpload' });

/** The upload function's routes: a bot's documents. */
export function uploadRoutes(deps: () => KnowledgeDeps): RouteTable {
  const ref = (principal: Parameters<typeof tenantOf>[0], params: Record<string, string>) => ({
    tenantId: tenantOf(principal),
    botId: params.botId ?? '',
    documentId: params.documentId ?? '',
  });
  return {
    'POST /admin/bots/{botId}/documents': defineRoute({
      summary: 'Add a document: returns a presigned POST to upload the file straight to storage',
      body: DocumentCreateSchema,
      responses: {
        201: { description: 'Created, awaiting its upload', schema: UploadSchema },
        409: { description: "The plan's document limit is reached" },
        413: { description: "Larger than the plan's upload limit" },
      },
      run: async ({ principal, params, body, event }) =>
        json(
          201,
          await requestUpload(
            deps(),
            tenantOf(principal),
            params.botId ?? '',
            body,
            event.requestContext?.requestId,
          ),
        ),
    }),
    'GET /admin/bots/{botId}/documents': defineRoute({
      summary: "List a bot's documents with their status and progress",
      query: PageQuerySchema,
      responses: { 200: { description: 'A page of documents', schema: pageOf(DocumentSchema) } },
      run: async ({ principal, params, query }) =>
        json(200, await listDocuments(deps(), tenantOf(principal), params.botId ?? '', query)),
    }),
    'GET /admin/bots/{botId}/documents/{documentId}': defineRoute({
      summary: 'Get a document: status, chunksTotal, chunksIndexed, and why it failed',
      responses: { 200: { description: 'The document', schema: z.object({ document: DocumentSchema }) } },
      run: async ({ principal, params }) =>
        json(200, { document: await getDocument(deps(), ref(principal, params)) }),
    }),
    'DELETE /admin/bots/{botId}/documents/{documentId}': defineRoute({
      summary: 'Delete a document, its file and every chunk of it',
      responses: { 204: { description: 'Deleted' } },
      run: async ({ principal, params }) => {
        await deleteDocument(deps(), ref(principal, params));
        return noContent();
      },
    }),
  };
}
