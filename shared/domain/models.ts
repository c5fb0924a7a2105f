import * as z from 'zod';
import { MODEL_ID_SUFFIX, MODEL_PRICES, type ModelPrice, normaliseModelId, priceOf } from './pricing.ts';

// The deployment's models: the operator's allow-list of chat models a bot may name, each with its
// price. A bot naming a model off the list is refused, the chat functions may invoke only these
// (IAM), and every recorded token has a price. The list is configuration: the CDK context value
// `models` on AWS (passed to the functions as PARLEY_MODELS), PARLEY_MODELS for the local platform.
//
// PARLEY_MODELS is a JSON array. Each entry is "provider:model" (priced by the price table) or an
// object {"provider", "id", "inputPerMillion", "outputPerMillion"} (USD per 1M tokens) for a model
// the table lacks or priced differently. A model is the table's key form (`anthropic.claude-3-5-haiku`,
// `gpt-4o-mini`): it allows that model's dated and versioned ids and its cross-region inference
// profiles, as the price table matches them; an exact id allows that id only.

export const MODEL_PROVIDERS = ['local', 'bedrock', 'openai'] as const;
export type ModelProvider = (typeof MODEL_PROVIDERS)[number];

export interface AllowedModel extends ModelPrice {
  readonly provider: ModelProvider;
  /** A price-table key or an exact model id (`extractive` for the local model). */
  readonly id: string;
}

const EMBEDDING = /embed|universal-sentence-encoder/;
const providerOfKey = (key: string): ModelProvider => (key.startsWith('gpt-') ? 'openai' : 'bedrock');

/** Today's priced chat models of the price table, and the offline model. */
export const DEFAULT_MODELS: readonly AllowedModel[] = [
  { provider: 'local', id: 'extractive', inputPerMillion: 0, outputPerMillion: 0 },
  ...Object.entries(MODEL_PRICES)
    .filter(([key]) => !EMBEDDING.test(key))
    .map(([key, price]) => ({ provider: providerOfKey(key), id: key, ...price })),
];

const usd = z.number().min(0).max(10_000);
const EntrySchema = z.union([
  z.string().regex(/^(local|bedrock|openai):[A-Za-z0-9._:/-]{1,200}$/, 'must be "provider:model"'),
  z.strictObject({
    provider: z.enum(MODEL_PROVIDERS),
    id: z.string().regex(/^[A-Za-z0-9._:/-]{1,200}$/),
    inputPerMillion: usd,
    outputPerMillion: usd,
  }),
]);

/** Reads an allow-list (PARLEY_MODELS); throws naming the first bad entry. Absent: the defaults. */
export function parseModels(text: string | undefined): readonly AllowedModel[] {
  if (text === undefined || text.trim() === '') return DEFAULT_MODELS;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('Invalid models list: not JSON (expected an array of "provider:model" or objects)');
  }
  const parsed = z.array(EntrySchema).min(1).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`Invalid models list: [${issue?.path.join('.')}] ${issue?.message}`);
  }
  return parsed.data.map((entry) => {
    if (typeof entry !== 'string') return entry;
    const [provider, ...rest] = entry.split(':') as [ModelProvider, ...string[]];
    const id = rest.join(':');
    if (provider === 'local') return { provider, id, inputPerMillion: 0, outputPerMillion: 0 };
    const price = priceOf({ provider, id });
    if (!price.known) {
      throw new Error(
        `Invalid models list: ${entry} has no price in the price table; give it as {"provider","id","inputPerMillion","outputPerMillion"}`,
      );
    }
    return { provider, id, inputPerMillion: price.inputPerMillion, outputPerMillion: price.outputPerMillion };
  });
}

/** The allow-list entry for a bot's model (the longest key that matches), if it is allowed. */
export function allowedModel(
  models: readonly AllowedModel[],
  model: { provider: string; id?: string },
): AllowedModel | undefined {
  const id = model.provider === 'local' ? (model.id ?? 'extractive') : model.id;
  if (!id) return undefined;
  // An ARN or a profile id names the same model as its bare id; anything else in it is refused.
  if (
    id.startsWith('arn:') &&
    !/^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:\d{0,12}:(foundation-model|inference-profile)\//.test(id)
  )
    return undefined;
  const bare = normaliseModelId(id);
  let best: AllowedModel | undefined;
  for (const entry of models) {
    if (entry.provider !== model.provider) continue;
    const key = entry.id.toLowerCase();
    const matches = bare === key || (bare.startsWith(key) && MODEL_ID_SUFFIX.test(bare.slice(key.length)));
    if (matches && entry.id.length > (best?.id.length ?? -1)) best = entry;
  }
  return best;
}

/** The allowed models of a provider, for an error message. */
export const modelNames = (models: readonly AllowedModel[]) =>
  models.map((entry) => `${entry.provider}:${entry.id}`).join(', ');
