import { type ApiKeyRecord, type ApiKeyView, toApiKeyView } from '../domain/api-key.ts';
import { NotFoundError } from '../domain/errors.ts';
import { generateApiKey, newId } from '../domain/ids.ts';
import { DEFAULT_PLAN, type Plan, type Tenant } from '../domain/tenant.ts';
import type { Clock } from '../ports/clock.ts';
import type { Page, PageRequest, Repositories } from '../ports/repositories.ts';
import { type CascadeDeps, deleteBotCascade } from './bots.ts';

export interface TenantDeps {
  repos: Repositories;
  clock: Clock;
}

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

export async function getTenant(deps: TenantDeps, tenantId: string): Promise<Tenant> {
  const tenant = await deps.repos.tenants.get(tenantId);
  if (!tenant) throw new NotFoundError('No such tenant');
  return tenant;
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

/**
 * Deletes a tenant and everything it owns. Keys go first, so the tenant is locked out at once;
 * the tenant record goes last, so a deletion cut short can be repeated and finishes the job.
 */
export async function deleteTenant(deps: CascadeDeps, tenantId: string): Promise<void> {
  await getTenant(deps, tenantId);
  const { repos } = deps;
  for (const keyId of await repos.keys.listIds(tenantId)) await repos.keys.revoke(tenantId, keyId);
  for (const botId of await repos.bots.listIds(tenantId)) await deleteBotCascade(deps, tenantId, botId);
  // Chunks of bots whose deletion was cut short earlier, if any.
  await deps.embedQueue.send([{ kind: 'delete-tenant', tenantId }]);
  await deps.usage.deleteTenant(tenantId);
  await repos.tenants.delete(tenantId);
}
