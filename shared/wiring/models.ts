import { type AllowedModel, parseModels } from '../domain/models.ts';
import { once } from '../memo.ts';

/** The deployment's allow-list of chat models (PARLEY_MODELS; see shared/domain/models.ts), read once. */
export const deploymentModels: () => readonly AllowedModel[] = once(() =>
  parseModels(process.env.PARLEY_MODELS),
);
