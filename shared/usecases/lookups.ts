// The reads every use-case starts from: a tenant's bot, a tenant. Their own module, so use-cases
// that check a bot first (documents, channels, evaluations, search, usage) do not import the
// modules that manage bots and tenants.

import type { Bot } from '../domain/bot.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { TenantDeps } from './deps.ts';

/** The tenant's bot; 404 when it has none by that id (another tenant's bot included). */
export async function getBot(deps: TenantDeps, tenantId: string, botId: string): Promise<Bot> {
  const bot = await deps.repos.bots.get(tenantId, botId);
  if (!bot) throw new NotFoundError('No such bot');
  return bot;
}

export async function getTenant(deps: TenantDeps, tenantId: string): Promise<Tenant> {
  const tenant = await deps.repos.tenants.get(tenantId);
  if (!tenant) throw new NotFoundError('No such tenant');
  return tenant;
}
