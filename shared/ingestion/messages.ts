import * as z from 'zod';

// Messages on the embed queue. The embed function is the vector index's only writer: chunks to
// index and deletions both go through it.

const scope = { tenantId: z.string().min(1), botId: z.string().min(1) };

/** A heading path on the wire: HTML and Markdown nest six deep; longer paths keep their innermost. */
export const MAX_HEADING_PATH_ENTRIES = 10;
/** Characters per heading-path entry, and for the document title. */
export const MAX_HEADING_CHARS = 300;
export const MAX_TITLE_CHARS = 300;

export const EmbedMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('index'),
    ...scope,
    documentId: z.string().min(1),
    filename: z.string(),
    /** The document's title, once per message (every chunk of the batch shares it). */
    title: z.string().min(1).max(MAX_TITLE_CHARS).optional(),
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
          /** The headings above the chunk, outermost first. */
          headingPath: z
            .array(z.string().min(1).max(MAX_HEADING_CHARS))
            .min(1)
            .max(MAX_HEADING_PATH_ENTRIES)
            .optional(),
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

/** Text cut to `max` characters (an ellipsis marking the cut), never inside a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end).trimEnd()}…`;
}

/** A heading path as the `index` message carries it: within its bounds, or undefined when empty. */
export function wireHeadingPath(path: readonly string[] | undefined): string[] | undefined {
  const entries = (path ?? [])
    .filter((entry) => entry.trim() !== '')
    .slice(-MAX_HEADING_PATH_ENTRIES)
    .map((entry) => clip(entry, MAX_HEADING_CHARS));
  return entries.length > 0 ? entries : undefined;
}
