import * as z from 'zod';

/** A tenant admin key as stored: the secret itself is never kept, only its SHA-256. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  prefix: string;
  secretHash: string;
  createdAt: string;
  lastUsedAt: string | null;
}

export const ApiKeyCreateSchema = z
  .strictObject({ name: z.string().trim().max(100).optional() })
  .meta({ id: 'ApiKeyCreate' });

export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe('The first characters of the key: enough to recognise it, not to use it.'),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'ApiKey' });

export type ApiKeyView = z.infer<typeof ApiKeySchema>;

export const toApiKeyView = (r: ApiKeyRecord): ApiKeyView => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
});
