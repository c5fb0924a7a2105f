import { deploymentModels } from '../config/models.ts';
import {
  applyBotPatch,
  type Bot,
  type BotPatch,
  BotSettingsValidSchema,
  DEFAULT_BOT_SETTINGS,
} from '../domain/bot.ts';
import { BadRequestError, ConflictError, NotFoundError } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import { allowedModel, modelNames } from '../domain/models.ts';
import { parseInput } from '../domain/validation.ts';
import type { EvaluationRepository, TestQuestionRepository } from '../ports/evaluations.ts';
import type { ReplyLedger } from '../ports/reply-ledger.ts';
import type { Page, PageRequest, SessionRepository } from '../ports/repositories.ts';
import type { UsageRepository } from '../ports/usage.ts';
import { type ChannelDeps, disconnectAllChannels } from './channels.ts';
import type { KnowledgeDeps } from './documents.ts';
import type { TenantDeps } from './tenants.ts';

export async function createBot(
  deps: TenantDeps,
  tenantId: string,
  input: BotPatch & { name: string },
): Promise<Bot> {
  const settings = parseInput(
    BotSettingsValidSchema,
    applyBotPatch({ ...DEFAULT_BOT_SETTINGS, name: input.name }, input),
    'bot',
  );
  checkModel(settings.model);
  const now = deps.clock.now().toISOString();
  const bot: Bot = { ...settings, id: newId('bot'), tenantId, createdAt: now, updatedAt: now };
  await deps.repos.bots.create(bot);
  return bot;
}

/** Refuses a model that is not on the deployment's allow-list (it would be unpriced, and unpermitted). */
function checkModel(model: Bot['model']): void {
  const models = deploymentModels();
  if (allowedModel(models, model)) return;
  throw new BadRequestError('This deployment does not offer that model', [
    {
      path: 'model.id',
      message: `${model.provider}:${model.id ?? ''} is not one of this deployment's models: ${modelNames(
        models.filter((entry) => entry.provider === model.provider),
      )}`.slice(0, 2000),
    },
  ]);
}

export async function getBot(deps: TenantDeps, tenantId: string, botId: string): Promise<Bot> {
  const bot = await deps.repos.bots.get(tenantId, botId);
  if (!bot) throw new NotFoundError('No such bot');
  return bot;
}

export const listBots = (deps: TenantDeps, tenantId: string, page: PageRequest): Promise<Page<Bot>> =>
  deps.repos.bots.list(tenantId, page);

/** Applies a partial update; a concurrent update in between is reported as a conflict, not lost. */
export async function updateBot(
  deps: TenantDeps,
  tenantId: string,
  botId: string,
  patch: BotPatch,
): Promise<Bot> {
  const current = await getBot(deps, tenantId, botId);
  const { id, tenantId: owner, createdAt, updatedAt, ...settings } = current;
  const merged = parseInput(BotSettingsValidSchema, applyBotPatch(settings, patch), 'bot');
  // A stored bot whose model left the list can still be renamed; choosing a model is checked.
  if (patch.model) checkModel(merged.model);
  let now = deps.clock.now().toISOString();
  // updatedAt doubles as the version: it must change even when two updates share a millisecond.
  if (now <= updatedAt) now = new Date(Date.parse(updatedAt) + 1).toISOString();
  const bot: Bot = { ...merged, id, tenantId: owner, createdAt, updatedAt: now };
  const outcome = await deps.repos.bots.update(bot, updatedAt);
  if (outcome === 'missing') throw new NotFoundError('No such bot');
  if (outcome === 'conflict')
    throw new ConflictError('The bot was changed by another request; read it again and retry');
  return bot;
}

/**
 * What deleting a bot reaches: its channels (Telegram's webhook deleted) and their de-duplication
 * and send records (which hold replies still to send), documents, objects, chunks,
 * conversations, test questions and evaluation runs; deleting a tenant also its usage records. (A
 * bot's usage stays with its tenant's history.)
 */
export interface CascadeDeps extends KnowledgeDeps, ChannelDeps {
  sessions: Pick<SessionRepository, 'deleteAllOfBot'>;
  usage: Pick<UsageRepository, 'deleteTenant'>;
  replyLedger: Pick<ReplyLedger, 'deleteBot'>;
  testQuestions: Pick<TestQuestionRepository, 'deleteAllOfBot'>;
  evaluations: Pick<EvaluationRepository, 'deleteAllOfBot'>;
}

/**
 * Removes a bot and everything it owns: its record first (so nothing new starts for it), then
 * its conversations, test questions and evaluation runs, its documents with their objects, then
 * its chunks. False if there was no such bot.
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
