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
import type { Page, PageRequest } from '../ports/repositories.ts';
import { deploymentModels } from '../wiring/models.ts';
import type { TenantDeps } from './deps.ts';
import { getBot } from './lookups.ts';

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
