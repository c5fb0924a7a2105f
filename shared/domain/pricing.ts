// What a model's tokens cost, for usage records. List prices in USD per 1M tokens: on-demand,
// standard tier, US East, no prompt caching, batch or provisioned-throughput discounts. They are
// list prices as published by the providers (https://aws.amazon.com/bedrock/pricing/,
// https://openai.com/api/pricing/) and change: keep this table current when they do, and add a
// model here when a bot starts using it. A model not listed costs 0 and is reported as `known:
// false` (recordTurn logs it), so a missing price is visible rather than silently wrong.
//
// Costs are integers in nano-dollars (1e-9 USD). Every price here has at most three decimals per
// 1M tokens, so a token's price is a whole number of nano-dollars and sums never drift.

export interface ModelPrice {
  /** USD per 1M input (prompt) tokens; for embedding models, per 1M embedded tokens. */
  readonly inputPerMillion: number;
  /** USD per 1M output (completion) tokens; 0 for embedding models. */
  readonly outputPerMillion: number;
}

export interface PriceLookup extends ModelPrice {
  /** False when the model is not in the table: its tokens are counted but cost 0. */
  readonly known: boolean;
  /** The table entry that matched, if any. */
  readonly entry?: string;
}

const p = (inputPerMillion: number, outputPerMillion: number): ModelPrice => ({
  inputPerMillion,
  outputPerMillion,
});

/**
 * Keyed by model id without its date, version or region suffixes: a key matches an id that is
 * the key itself or the key followed only by a date (`-20241022`, `-2024-08-06`), a version
 * (`-v1`, `-v2:0`, `:0`), or both; the longest matching key wins. `gpt-4o` thus prices
 * `gpt-4o-2024-08-06` but not `gpt-4o-mini`, and `anthropic.claude-opus-4` does not price Opus 4.1.
 */
export const MODEL_PRICES: Readonly<Record<string, ModelPrice>> = {
  // Anthropic Claude on Bedrock.
  'anthropic.claude-3-haiku': p(0.25, 1.25),
  'anthropic.claude-3-5-haiku': p(0.8, 4),
  'anthropic.claude-haiku-4-5': p(1, 5),
  'anthropic.claude-3-sonnet': p(3, 15),
  'anthropic.claude-3-5-sonnet': p(3, 15),
  'anthropic.claude-3-7-sonnet': p(3, 15),
  'anthropic.claude-sonnet-4': p(3, 15),
  'anthropic.claude-sonnet-4-5': p(3, 15),
  'anthropic.claude-3-opus': p(15, 75),
  'anthropic.claude-opus-4': p(15, 75),
  'anthropic.claude-opus-4-1': p(15, 75),
  // Amazon Nova.
  'amazon.nova-micro': p(0.035, 0.14),
  'amazon.nova-lite': p(0.06, 0.24),
  'amazon.nova-pro': p(0.8, 3.2),
  'amazon.nova-premier': p(2.5, 12.5),
  // Meta Llama 3.x on Bedrock.
  'meta.llama3-8b-instruct': p(0.3, 0.6),
  'meta.llama3-70b-instruct': p(2.65, 3.5),
  'meta.llama3-1-8b-instruct': p(0.22, 0.22),
  'meta.llama3-1-70b-instruct': p(0.72, 0.72),
  'meta.llama3-1-405b-instruct': p(2.4, 2.4),
  'meta.llama3-2-1b-instruct': p(0.1, 0.1),
  'meta.llama3-2-3b-instruct': p(0.15, 0.15),
  'meta.llama3-2-11b-instruct': p(0.16, 0.16),
  'meta.llama3-2-90b-instruct': p(0.72, 0.72),
  'meta.llama3-3-70b-instruct': p(0.72, 0.72),
  // Mistral on Bedrock.
  'mistral.mistral-7b-instruct': p(0.15, 0.2),
  'mistral.mixtral-8x7b-instruct': p(0.45, 0.7),
  'mistral.mistral-small-2402': p(1, 3),
  'mistral.mistral-large-2402': p(4, 12),
  'mistral.mistral-large-2407': p(2, 6),
  // OpenAI.
  'gpt-4o': p(2.5, 10),
  'gpt-4o-2024-05-13': p(5, 15),
  'gpt-4o-mini': p(0.15, 0.6),
  'gpt-4.1': p(2, 8),
  'gpt-4.1-mini': p(0.4, 1.6),
  'gpt-4.1-nano': p(0.1, 0.4),
  // Embeddings.
  'amazon.titan-embed-text-v1': p(0.1, 0),
  'amazon.titan-embed-text-v2': p(0.02, 0),
  'text-embedding-3-small': p(0.02, 0),
  'text-embedding-3-large': p(0.13, 0),
  'text-embedding-ada-002': p(0.1, 0),
  // The offline embedder of the local platform.
  'universal-sentence-encoder-lite': p(0, 0),
};

const FREE: PriceLookup = { inputPerMillion: 0, outputPerMillion: 0, known: true, entry: 'local' };
const UNKNOWN: PriceLookup = { inputPerMillion: 0, outputPerMillion: 0, known: false };

/** What may follow a table key: a date, then a version, each optional. */
export const MODEL_ID_SUFFIX = /^(?:-\d{8}|-\d{4}-\d{2}-\d{2})?(?:-v\d+(?::\d+)?|:\d+)?$/;
/** Cross-region inference profiles prefix the model id with a geography. */
const PROFILE = /^(?:us|eu|apac|au|ca|jp|us-gov|global)\./;

/** The model id as the table keys it: no ARN, no inference-profile geography, lower case. */
export function normaliseModelId(modelId: string): string {
  const id = modelId.trim().toLowerCase();
  return id.slice(id.lastIndexOf('/') + 1).replace(PROFILE, '');
}

/** The price of a model; the `local` provider (offline models) is free. */
export function priceOf(model: { provider?: string; id?: string }): PriceLookup {
  if (model.provider === 'local') return FREE;
  const id = normaliseModelId(model.id ?? '');
  let best: string | undefined;
  for (const key of Object.keys(MODEL_PRICES)) {
    if (id.startsWith(key) && MODEL_ID_SUFFIX.test(id.slice(key.length)) && key.length > (best?.length ?? 0))
      best = key;
  }
  const price = best === undefined ? undefined : MODEL_PRICES[best];
  return price ? { ...price, known: true, entry: best } : UNKNOWN;
}

/** Nano-dollars per token for a price in USD per 1M tokens (exact for up to three decimals). */
export const nanoUsdPerToken = (usdPerMillion: number) => Math.round(usdPerMillion * 1000);

const wholeTokens = (count: number | undefined) => Math.max(0, Math.round(count ?? 0));

/** The cost of one call in nano-dollars (an integer). */
export function costNanoUsd(
  price: ModelPrice,
  tokens: { inputTokens?: number; outputTokens?: number },
): number {
  return (
    nanoUsdPerToken(price.inputPerMillion) * wholeTokens(tokens.inputTokens) +
    nanoUsdPerToken(price.outputPerMillion) * wholeTokens(tokens.outputTokens)
  );
}

/** Nano-dollars as dollars, for the API. */
export const nanoToUsd = (nano: number) => nano / 1e9;
