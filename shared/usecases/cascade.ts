// Deletes that reach everything a bot or a tenant owns (DESIGN.md §8). Their own module, above
// bots, tenants, documents and channels: those modules never import each other to delete.

import { NotFoundError } from '../domain/errors.ts';
import { disconnectAllChannels } from './channels.ts';
import type { CascadeDeps } from './deps.ts';
import { getTenant } from './lookups.ts';

/**
 * Removes a bot and everything it owns: its record first (so nothing new starts for it), then
 * its channels, send records, conversations, test questions and evaluation runs, its documents
 * with their objects, then its chunks. False if there was no such bot.
 */
export async function deleteBotCascade(deps: CascadeDeps, tenantId: string, botId: string): Promise<boolean> {
  const existed = await deps.repos.bots.delete(tenantId, botId);
  await disconnectAllChannels(deps, tenantId, botId);
  await deps.replyLedger.deleteBot({ tenantId, botId });
  await deps.sessions.deleteAllOfBot(tenantId, botId);
  await deps.testQuestions.deleteAllOfBot({ tenantId, botId });
  await deps.evaluations.deleteAllOfBot({ tenantId, botId });
  const documents = await deps.repos.documents.listAll(tenantId, botId);
  for (const document of documents) {
    await deps.repos.documents.delete({ tenantId, botId, documentId: document.id });
    await deps.blobs.delete(document.key);
  }
  if (existed || documents.length > 0) await deps.embedQueue.send([{ kind: 'delete-bot', tenantId, botId }]);
  return existed;
}

export async function deleteBot(deps: CascadeDeps, tenantId: string, botId: string): Promise<void> {
  if (!(await deleteBotCascade(deps, tenantId, botId))) throw new NotFoundError('No such bot');
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
