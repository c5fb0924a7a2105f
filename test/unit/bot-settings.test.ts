import { describe, expect, it } from '@jest/globals';
import {
  applyBotPatch,
  BotCreateSchema,
  BotPatchSchema,
  type BotSettings,
  BotSettingsValidSchema,
  chunkingOf,
  DEFAULT_BOT_SETTINGS,
  upgradeStoredBot,
} from '../../shared/domain/bot.ts';
import { BadRequestError } from '../../shared/domain/errors.ts';
import { parseInput } from '../../shared/domain/validation.ts';

const create = (input: unknown) =>
  parseInput(
    BotSettingsValidSchema,
    applyBotPatch({ ...DEFAULT_BOT_SETTINGS, name: '' }, parseInput(BotCreateSchema, input, 'body')),
    'bot',
  );

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (error instanceof BadRequestError) return error.details;
    throw error;
  }
  throw new Error('expected a BadRequestError');
}

describe('bot settings', () => {
  it('fills every default of DESIGN.md §5 when only the name is given', () => {
    const bot = create({ name: 'Helper' });
    expect(bot).toMatchObject({
      name: 'Helper',
      model: { provider: 'local', id: 'extractive' },
      temperature: 0.3,
      maxTokens: 1024,
      retrieval: { topK: 5, minScore: 0.25 },
      chunking: { size: 1000, overlap: 200 },
      historyTurns: 10,
      sessionTtlSeconds: 604800,
      rateLimits: { perMinute: 60, perSecond: 2, perUserPerMinute: 5 },
      visibility: 'private',
      allowedOrigins: [],
      enabled: true,
    });
  });

  it('merges nested groups field by field on patch and replaces the model whole', () => {
    const bot = create({
      name: 'A',
      retrieval: { topK: 8 },
      model: { provider: 'openai', id: 'gpt-4o-mini' },
    });
    const patched = applyBotPatch(
      bot,
      parseInput(BotPatchSchema, { retrieval: { minScore: 0.5 }, model: { provider: 'local' } }, 'body'),
    );
    expect(patched.retrieval).toEqual({ ...DEFAULT_BOT_SETTINGS.retrieval, topK: 8, minScore: 0.5 });
    expect(patched.model).toEqual({ provider: 'local', id: 'extractive' });
  });

  it('names each invalid field by its path', () => {
    const details = issuesOf(() =>
      create({
        name: 'A',
        temperature: 3,
        retrieval: { topK: 0 },
        allowedOrigins: ['https://ok.example', 'https://x.example/path'],
        unknown: 1,
      }),
    );
    const paths = (details as { path: string }[]).map((d) => d.path).sort();
    expect(paths).toEqual(['', 'allowedOrigins.1', 'retrieval.topK', 'temperature']);
  });

  it('refuses fractions too small to store (the fuzzing found 5e-324 reaching DynamoDB), keeps 0 and 0.000001', () => {
    const details = issuesOf(() =>
      create({ name: 'A', temperature: 5e-324, retrieval: { topK: 3, minScore: 1e-9 } }),
    );
    expect(details).toEqual([
      { path: 'temperature', message: 'must be 0 or at least 0.000001' },
      { path: 'retrieval.minScore', message: 'must be 0 or at least 0.000001' },
    ]);
    expect(create({ name: 'A', temperature: 0, retrieval: { topK: 3, minScore: 0.000001 } })).toMatchObject({
      temperature: 0,
      retrieval: { minScore: 0.000001 },
    });
  });

  it('requires a model id for hosted providers and an overlap below the chunk size', () => {
    const details = issuesOf(() =>
      create({ name: 'A', model: { provider: 'bedrock' }, chunking: { size: 500, overlap: 500 } }),
    );
    expect((details as { path: string }[]).map((d) => d.path).sort()).toEqual([
      'chunking.overlap',
      'model.id',
    ]);
  });

  // Audit finding: overlap < size was the only rule; 4000/3999 was accepted.
  it('caps the chunk overlap at a quarter of the size, and cuts stored bots with the cap', () => {
    const refusal = issuesOf(() => create({ name: 'A', chunking: { size: 4000, overlap: 3999 } }));
    expect(refusal).toEqual([expect.objectContaining({ path: 'chunking.overlap' })]);
    expect(issuesOf(() => create({ name: 'A', chunking: { size: 3000, overlap: 1500 } }))).toEqual([
      { path: 'chunking.overlap', message: 'must be at most a quarter of chunking.size (750)' },
    ]);
    expect(create({ name: 'A', chunking: { size: 4000, overlap: 1000 } }).chunking).toEqual({
      size: 4000,
      overlap: 1000,
    });
    expect(chunkingOf({ chunking: { size: 8000, overlap: 7999 } })).toEqual({ size: 8000, overlap: 2000 });
    expect(chunkingOf({ chunking: { size: 1000, overlap: 200 } })).toEqual({ size: 1000, overlap: 200 });
  });

  it('refuses a missing or blank name and wrong types', () => {
    expect((issuesOf(() => create({})) as { path: string }[])[0]?.path).toBe('name');
    expect((issuesOf(() => create({ name: '   ' })) as { path: string }[])[0]?.path).toBe('name');
    expect((issuesOf(() => create({ name: 'A', enabled: 'yes' })) as { path: string }[])[0]?.path).toBe(
      'enabled',
    );
    expect((issuesOf(() => create([])) as { path: string }[])[0]?.path).toBe('');
  });
});

describe('bots stored before a setting existed', () => {
  // A bot as an earlier release stored it: no retrieval mode, coverage, rerank or no-answer message.
  const { noAnswerMessage: _n, ...older } = DEFAULT_BOT_SETTINGS;
  const stored = { ...older, name: 'Old', retrieval: { topK: 7, minScore: 0.4 } };

  it('read with the new settings at their defaults, keeping what was stored', () => {
    const bot = upgradeStoredBot(stored as Partial<BotSettings>);
    expect(bot.retrieval).toEqual({ ...DEFAULT_BOT_SETTINGS.retrieval, topK: 7, minScore: 0.4 });
    expect(bot.noAnswerMessage).toBe(DEFAULT_BOT_SETTINGS.noAnswerMessage);
    expect(() => parseInput(BotSettingsValidSchema, bot, 'bot')).not.toThrow();
  });

  it('accept a patch of one new field without touching the others', () => {
    const bot = upgradeStoredBot(stored as Partial<BotSettings>);
    const patched = applyBotPatch(
      bot,
      parseInput(BotPatchSchema, { retrieval: { mode: 'keyword' } }, 'body'),
    );
    expect(parseInput(BotSettingsValidSchema, patched, 'bot').retrieval).toEqual({
      ...DEFAULT_BOT_SETTINGS.retrieval,
      topK: 7,
      minScore: 0.4,
      mode: 'keyword',
    });
  });
});
