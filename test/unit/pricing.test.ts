import { describe, expect, it } from '@jest/globals';
import {
  costNanoUsd,
  MODEL_PRICES,
  nanoToUsd,
  nanoUsdPerToken,
  normaliseModelId,
  priceOf,
} from '../../shared/domain/pricing.ts';

const bedrock = (id: string) => priceOf({ provider: 'bedrock', id });
const openai = (id: string) => priceOf({ provider: 'openai', id });

describe('price table', () => {
  it('prices Bedrock ids with their dates, versions, inference-profile geographies and ARNs', () => {
    expect(bedrock('anthropic.claude-3-5-haiku-20241022-v1:0')).toMatchObject({
      known: true,
      inputPerMillion: 0.8,
      outputPerMillion: 4,
    });
    expect(bedrock('us.anthropic.claude-3-7-sonnet-20250219-v1:0')).toMatchObject({ inputPerMillion: 3 });
    expect(bedrock('eu.anthropic.claude-sonnet-4-20250514-v1:0')).toMatchObject({ outputPerMillion: 15 });
    expect(bedrock('anthropic.claude-3-5-sonnet-20241022-v2:0').entry).toBe('anthropic.claude-3-5-sonnet');
    expect(
      bedrock('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0'),
    ).toMatchObject({ known: true, inputPerMillion: 0.06, outputPerMillion: 0.24 });
    expect(bedrock('amazon.nova-micro-v1:0')).toMatchObject({
      inputPerMillion: 0.035,
      outputPerMillion: 0.14,
    });
    expect(bedrock('amazon.nova-pro-v1:0')).toMatchObject({ inputPerMillion: 0.8, outputPerMillion: 3.2 });
    expect(bedrock('meta.llama3-3-70b-instruct-v1:0')).toMatchObject({ inputPerMillion: 0.72 });
    expect(bedrock('mistral.mistral-large-2407-v1:0')).toMatchObject({
      inputPerMillion: 2,
      outputPerMillion: 6,
    });
    expect(bedrock('mistral.mixtral-8x7b-instruct-v0:1').known).toBe(true);
    expect(bedrock('amazon.titan-embed-text-v2:0')).toMatchObject({
      inputPerMillion: 0.02,
      outputPerMillion: 0,
    });
  });

  it('takes the longest key that is followed only by a date or a version', () => {
    expect(openai('gpt-4o').entry).toBe('gpt-4o');
    expect(openai('gpt-4o-2024-08-06').entry).toBe('gpt-4o');
    expect(openai('gpt-4o-2024-05-13')).toMatchObject({ inputPerMillion: 5, outputPerMillion: 15 });
    expect(openai('gpt-4o-mini-2024-07-18')).toMatchObject({ entry: 'gpt-4o-mini', inputPerMillion: 0.15 });
    expect(openai('gpt-4.1-nano-2025-04-14').entry).toBe('gpt-4.1-nano');
    expect(openai('gpt-4.1').entry).toBe('gpt-4.1');
    expect(openai('text-embedding-3-small')).toMatchObject({ inputPerMillion: 0.02 });
    // A key is not a prefix of a different model.
    expect(bedrock('meta.llama3-2-11b-instruct-v1:0').entry).toBe('meta.llama3-2-11b-instruct');
    expect(bedrock('meta.llama3-2-1b-instruct-v1:0').entry).toBe('meta.llama3-2-1b-instruct');
    expect(bedrock('anthropic.claude-opus-4-1-20250805-v1:0').entry).toBe('anthropic.claude-opus-4-1');
    expect(bedrock('anthropic.claude-opus-4-6-20260101-v1:0').known).toBe(false);
    expect(openai('gpt-4o-audio-preview').known).toBe(false);
  });

  it('makes unknown models free but says so, and local models free and known', () => {
    expect(openai('my-llama-on-vllm')).toEqual({ inputPerMillion: 0, outputPerMillion: 0, known: false });
    expect(bedrock('')).toMatchObject({ known: false });
    expect(priceOf({ provider: 'local', id: 'extractive' })).toMatchObject({
      known: true,
      inputPerMillion: 0,
    });
    expect(priceOf({ id: 'universal-sentence-encoder-lite' })).toMatchObject({
      known: true,
      inputPerMillion: 0,
    });
  });

  it('normalises ids', () => {
    expect(normaliseModelId(' US.Anthropic.Claude-3-5-Haiku-20241022-v1:0 ')).toBe(
      'anthropic.claude-3-5-haiku-20241022-v1:0',
    );
    expect(normaliseModelId('global.anthropic.claude-sonnet-4-5-20250929-v1:0')).toBe(
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
    );
  });

  it('has prices that are whole nano-dollars per token', () => {
    for (const [model, price] of Object.entries(MODEL_PRICES)) {
      for (const usd of [price.inputPerMillion, price.outputPerMillion]) {
        expect({ model, error: Math.abs(usd * 1000 - nanoUsdPerToken(usd)) }).toEqual({
          model,
          error: expect.closeTo(0, 9),
        });
        expect(usd).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

describe('cost', () => {
  it('is an exact integer in nano-dollars', () => {
    const micro = bedrock('amazon.nova-micro-v1:0');
    // 1000 × $0.035/M + 500 × $0.14/M = $0.000035 + $0.00007
    expect(costNanoUsd(micro, { inputTokens: 1000, outputTokens: 500 })).toBe(105_000);
    expect(nanoToUsd(105_000)).toBeCloseTo(0.000105, 12);
    const sonnet = bedrock('anthropic.claude-3-7-sonnet-20250219-v1:0');
    expect(costNanoUsd(sonnet, { inputTokens: 1_000_000, outputTokens: 1_000_000 })).toBe(18e9);
  });

  it('does not drift over many small calls, unlike summing dollars', () => {
    const micro = bedrock('amazon.nova-micro-v1:0');
    let nano = 0;
    let dollars = 0;
    for (let i = 0; i < 100_000; i++) {
      nano += costNanoUsd(micro, { inputTokens: 7, outputTokens: 3 });
      dollars += (7 * 0.035 + 3 * 0.14) / 1e6;
    }
    expect(nano).toBe(100_000 * (7 * 35 + 3 * 140));
    expect(Number.isInteger(nano)).toBe(true);
    expect(nanoToUsd(nano)).toBe(0.0665);
    expect(dollars).not.toBe(0.0665);
  });

  it('counts missing, negative or fractional token counts sanely', () => {
    const gpt = openai('gpt-4o-mini');
    expect(costNanoUsd(gpt, {})).toBe(0);
    expect(costNanoUsd(gpt, { inputTokens: -5, outputTokens: 1.6 })).toBe(2 * 600);
  });
});
