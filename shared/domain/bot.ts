import * as z from 'zod';
import { type ChunkOptions, maxOverlap } from '../ingestion/chunker.ts';

// The bot's settings. One strict schema for stored bots; create and patch inputs are derived from
// it, so a field added here is validated, defaulted, stored and published in OpenAPI at once.

export const ModelSchema = z
  .strictObject({
    provider: z.enum(['local', 'bedrock', 'openai']),
    id: z.string().trim().min(1).max(200).optional().describe('Model id; required for bedrock and openai.'),
  })
  .meta({ id: 'BotModel' });

const origin = z
  .string()
  .max(200)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
    } catch {
      return false;
    }
  }, 'must be an origin such as https://example.com (scheme, host and optional port; no path)');

const text = (max: number) => z.string().max(max);

/**
 * A fraction between `min` and `max` that storage can hold: DynamoDB's numbers stop at 1e-130,
 * so a value like 5e-324 is refused here (400), not by the table (500). Nobody means less than
 * a millionth.
 */
const fraction = (min: number, max: number) =>
  z
    .number()
    .min(min)
    .max(max)
    .refine((value) => value === 0 || Math.abs(value) >= 1e-6, 'must be 0 or at least 0.000001');

export const BotSettingsSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: text(1000),
  persona: text(4000).describe('Personality and tone, added to the system prompt.'),
  systemPrompt: text(20_000),
  greeting: text(1000),
  fallbackMessage: text(1000).describe('Sent when the model provider stays down.'),
  noAnswerMessage: text(1000).describe(
    'Sent, without calling the model, when nothing relevant to the question is in the documents.',
  ),
  unsupportedMessage: text(1000).describe(
    'Sent on messaging channels for images, voice and other non-text input.',
  ),
  model: ModelSchema,
  temperature: fraction(0, 2),
  maxTokens: z.int().min(1).max(32_000),
  retrieval: z.strictObject({
    topK: z.int().min(1).max(50),
    minScore: fraction(0, 1).describe('The cosine a vector candidate needs to be cited.'),
    mode: z
      .enum(['hybrid', 'vector', 'keyword'])
      .describe('hybrid: keyword (BM25) and vector candidates fused; or either alone.'),
    keywordCoverage: fraction(0, 1).describe(
      "The share of the question's words (weighted by rarity) a keyword-only candidate must hold to be cited.",
    ),
    abstain: z
      .boolean()
      .describe(
        'Answer only from the documents: when nothing relevant is found, send noAnswerMessage without calling the model. Off: the model answers without passages.',
      ),
    rerank: z
      .boolean()
      .describe('Reorder the fused candidates with the deployment’s reranking model, if one is set.'),
  }),
  chunking: z.strictObject({
    size: z.int().min(200).max(8000),
    overlap: z.int().min(0).max(2000).describe('At most a quarter of size.'),
  }),
  historyTurns: z.int().min(0).max(100),
  sessionTtlSeconds: z
    .int()
    .min(60)
    .max(365 * 24 * 3600),
  rateLimits: z.strictObject({
    perMinute: z.int().min(1).max(100_000),
    perSecond: z.int().min(1).max(10_000),
    perUserPerMinute: z.int().min(1).max(10_000),
  }),
  visibility: z.enum(['public', 'private']),
  allowedOrigins: z.array(origin).max(50),
  branding: z.strictObject({
    title: text(100),
    color: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour like #2563eb'),
    position: z.enum(['bottom-right', 'bottom-left']),
    logoUrl: z
      .url({ protocol: /^https$/ })
      .max(2000)
      .nullable(),
  }),
  enabled: z.boolean(),
});

export type BotSettings = z.infer<typeof BotSettingsSchema>;

export const DEFAULT_BOT_SETTINGS: Omit<BotSettings, 'name'> = {
  description: '',
  persona: '',
  systemPrompt:
    'You are a helpful assistant. Answer from the provided documents; if they do not contain the answer, say so.',
  greeting: 'Hi! How can I help you today?',
  fallbackMessage: "Sorry, I can't answer right now. Please try again in a moment.",
  unsupportedMessage: 'Sorry, I can only read text messages.',
  noAnswerMessage: "I'm sorry, I couldn't find anything about that in my documents.",
  model: { provider: 'local', id: 'extractive' },
  temperature: 0.3,
  maxTokens: 1024,
  retrieval: { topK: 5, minScore: 0.25, mode: 'hybrid', keywordCoverage: 0.5, abstain: true, rerank: false },
  chunking: { size: 1000, overlap: 200 },
  historyTurns: 10,
  sessionTtlSeconds: 604_800,
  rateLimits: { perMinute: 60, perSecond: 2, perUserPerMinute: 5 },
  visibility: 'private',
  allowedOrigins: [],
  branding: { title: '', color: '#2563eb', position: 'bottom-right', logoUrl: null },
  enabled: true,
};

const s = BotSettingsSchema.shape;

/** PATCH input: every field optional; nested groups may be given in part. `model` is replaced whole. */
export const BotPatchSchema = z
  .strictObject({
    ...s,
    retrieval: s.retrieval.partial(),
    chunking: s.chunking.partial(),
    rateLimits: s.rateLimits.partial(),
    branding: s.branding.partial(),
  })
  .partial()
  .meta({ id: 'BotPatch' });

export const BotCreateSchema = BotPatchSchema.required({ name: true }).meta({ id: 'BotCreate' });

export type BotPatch = z.infer<typeof BotPatchSchema>;

export interface Bot extends BotSettings {
  id: string;
  tenantId: string;
  createdAt: string;
  updatedAt: string;
}

export const BotSchema = BotSettingsSchema.extend({
  id: z.string(),
  tenantId: z.string(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
}).meta({ id: 'Bot' });

const NESTED = ['retrieval', 'chunking', 'rateLimits', 'branding'] as const;

/**
 * A bot as stored, brought up to today's settings: fields added since it was saved take their
 * defaults (nested groups field by field). Defaults live here and in DEFAULT_BOT_SETTINGS rather
 * than as zod `.default()`s, because the patch schema is derived from the settings schema and a
 * default there would overwrite a stored value whenever a patch leaves the field out.
 */
export function upgradeStoredBot<T extends Partial<BotSettings>>(stored: T): T & Omit<BotSettings, 'name'> {
  const upgraded = { ...DEFAULT_BOT_SETTINGS, ...stored } as T & Omit<BotSettings, 'name'>;
  for (const key of NESTED) {
    Object.assign(upgraded, { [key]: { ...DEFAULT_BOT_SETTINGS[key], ...(stored[key] ?? {}) } });
  }
  return upgraded;
}

/** Applies a patch to settings: nested groups merge field by field, everything else replaces. */
export function applyBotPatch<T extends Omit<BotSettings, 'name'> & { name?: string }>(
  base: T,
  patch: BotPatch,
): T {
  const merged: T = { ...base, ...patch } as T;
  for (const key of NESTED) {
    if (patch[key]) Object.assign(merged, { [key]: { ...base[key], ...patch[key] } });
  }
  if (merged.model.provider === 'local' && !merged.model.id)
    merged.model = { provider: 'local', id: 'extractive' };
  return merged;
}

/** Rules that span fields; checked on the merged result of every create and patch. */
export const BotSettingsValidSchema = BotSettingsSchema.superRefine((bot, ctx) => {
  if (bot.model.provider !== 'local' && !bot.model.id) {
    ctx.addIssue({
      code: 'custom',
      path: ['model', 'id'],
      message: `is required for provider ${bot.model.provider}`,
    });
  }
  if (bot.chunking.overlap > maxOverlap(bot.chunking.size)) {
    ctx.addIssue({
      code: 'custom',
      path: ['chunking', 'overlap'],
      message: `must be at most a quarter of chunking.size (${maxOverlap(bot.chunking.size)})`,
    });
  }
});

/**
 * The chunking a bot's documents are cut with. Bots stored before overlaps were capped may hold
 * more than a quarter of the size: they are cut with the cap.
 */
export const chunkingOf = (bot: Pick<BotSettings, 'chunking'>): ChunkOptions => ({
  size: bot.chunking.size,
  overlap: Math.min(bot.chunking.overlap, maxOverlap(bot.chunking.size)),
});
