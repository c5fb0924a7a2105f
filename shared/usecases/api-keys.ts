import { type ApiKeyView, toApiKeyView } from '../domain/api-key.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { Page, PageRequest } from '../ports/repositories.ts';
import type { TenantDeps } from './deps.ts';
import { newKeyRecord } from './tenants.ts';

export async function createApiKey(
  deps: TenantDeps,
  tenantId: string,
  input: { name?: string },
): Promise<{ key: ApiKeyView; apiKey: string }> {
  const { record, apiKey } = newKeyRecord(tenantId, input.name ?? '', deps.clock.now().toISOString());
  await deps.repos.keys.create(record);
  return { key: toApiKeyView(record), apiKey };
}

export async function listApiKeys(
  deps: TenantDeps,
  tenantId: string,
  page: PageRequest,
): Promise<Page<ApiKeyView>> {
  const result = await deps.repos.keys.list(tenantId, page);
  return { items: result.items.map(toApiKeyView), nextCursor: result.nextCursor };
}

export async function revokeApiKey(deps: TenantDeps, tenantId: string, keyId: string): Promise<void> {
  if (!(await deps.repos.keys.revoke(tenantId, keyId))) throw new NotFoundError('No such key');
}
