import { z } from 'zod';

// Messages on the embed queue. The embed function is the vector index's only writer: chunks to
// index and deletions both go through it.

const scope = { tenantId: z.string().min(1), botId: z.string().min(1) };

export const EmbedMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('index'),
    ...scope,
    documentId: z.string().min(1),
    filename: z.string(),
    /** The upload request's id, for the embed function's logs. */
    requestId: z.string().max(200).optional(),
    /** The batch's number within its document: counted once toward chunksIndexed. */
    batch: z.int().min(0),
    chunks: z
      .array(
        z.object({
          ordinal: z.int().min(0),
          text: z.string().min(1),
          page: z.int().optional(),
          heading: z.string().optional(),
        }),
      )
      .min(1),
  }),
  z.object({ kind: z.literal('delete-document'), ...scope, documentId: z.string().min(1) }),
  z.object({ kind: z.literal('delete-bot'), ...scope }),
  z.object({ kind: z.literal('delete-tenant'), tenantId: z.string().min(1) }),
]);

export type EmbedMessage = z.infer<typeof EmbedMessageSchema>;
export type IndexMessage = Extract<EmbedMessage, { kind: 'index' }>;
