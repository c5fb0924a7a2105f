import { type ApiKeyRecord, type ApiKeyView, toApiKeyView } from '../domain/api-key.ts';
import { NotFoundError } from '../domain/errors.ts';
import { generateApiKey, newId } from '../domain/ids.ts';
import { DEFAULT_PLAN, type Plan, type Tenant } from '../domain/tenant.ts';
import type { Page, PageRequest } from '../ports/repositories.ts';
import type { TenantDeps } from './deps.ts';
import { getTenant } from './lookups.ts';

export function newKeyRecord(
  tenantId: string,
  name: string,
  at: string,
): { record: ApiKeyRecord; apiKey: string } {
  const key = generateApiKey();
  return {
    apiKey: key.apiKey,
    record: {
      id: key.keyId,
      tenantId,
      name,
      prefix: key.prefix,
      secretHash: key.secretHash,
      createdAt: at,
      lastUsedAt: null,
    },
  };
}

export async function createTenant(
  deps: TenantDeps,
  input: { name: string; plan?: Partial<Plan> },
): Promise<{ tenant: Tenant; apiKey: string; key: ApiKeyView }> {
  const now = deps.clock.now().toISOString();
  const tenant: Tenant = {
    id: newId('tnt'),
    name: input.name,
    plan: { ...DEFAULT_PLAN, ...input.plan },
    createdAt: now,
    updatedAt: now,
  };
  const { record, apiKey } = newKeyRecord(tenant.id, 'first key', now);
  await deps.repos.tenants.create(tenant, record);
  return { tenant, apiKey, key: toApiKeyView(record) };
}

export const listTenants = (deps: TenantDeps, page: PageRequest): Promise<Page<Tenant>> =>
  deps.repos.tenants.list(page);

export async function updateTenant(
  deps: TenantDeps,
  tenantId: string,
  patch: { name?: string; plan?: Partial<Plan> },
): Promise<Tenant> {
  const current = await getTenant(deps, tenantId);
  const updated: Tenant = {
    ...current,
    name: patch.name ?? current.name,
    plan: { ...current.plan, ...patch.plan },
    updatedAt: deps.clock.now().toISOString(),
  };
  if (!(await deps.repos.tenants.update(updated))) throw new NotFoundError('No such tenant');
  return updated;
}
