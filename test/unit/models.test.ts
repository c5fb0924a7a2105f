import { describe, expect, it } from '@jest/globals';
import { allowedModel, DEFAULT_MODELS, parseModels } from '../../shared/domain/models.ts';

// Audit finding: any Bedrock model id or ARN was accepted, and unpriced models were recorded at
// cost 0. The deployment's allow-list decides, and every model on it has a price.

describe('the deployment’s models', () => {
  it('default to the price table’s chat models and the offline one', () => {
    const allows = (provider: string, id?: string) =>
      allowedModel(DEFAULT_MODELS, { provider, ...(id && { id }) });
    expect(allows('bedrock', 'anthropic.claude-3-5-haiku-20241022-v1:0')).toMatchObject({
      id: 'anthropic.claude-3-5-haiku',
      inputPerMillion: 0.8,
    });
    expect(allows('bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0')?.id).toBe(
      'anthropic.claude-3-5-haiku',
    );
    expect(allows('openai', 'gpt-4o-mini-2024-07-18')?.id).toBe('gpt-4o-mini');
    expect(allows('local')?.id).toBe('extractive');
    expect(allows('bedrock', 'anthropic.claude-instant-v1')).toBeUndefined();
    expect(allows('bedrock', 'amazon.titan-embed-text-v2:0')).toBeUndefined();
    expect(allows('openai', 'anthropic.claude-3-5-haiku')).toBeUndefined();
    expect(allows('bedrock', 'gpt-4o')).toBeUndefined();
    expect(allows('bedrock', 'arn:aws:iam::123456789012:role/amazon.nova-lite-v1:0')).toBeUndefined();
    expect(allows('bedrock', 'arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0')?.id).toBe(
      'amazon.nova-lite',
    );
    expect(allows('bedrock', `amazon.nova-lite${'x'.repeat(300)}`)).toBeUndefined();
  });

  it('read an operator’s list: priced keys, exact ids with their own price, nothing unpriced', () => {
    const models = parseModels(
      JSON.stringify([
        'bedrock:amazon.nova-lite',
        { provider: 'bedrock', id: 'acme.custom-model-v1:0', inputPerMillion: 1.5, outputPerMillion: 2 },
      ]),
    );
    expect(allowedModel(models, { provider: 'bedrock', id: 'amazon.nova-lite-v1:0' })).toBeDefined();
    expect(allowedModel(models, { provider: 'bedrock', id: 'acme.custom-model-v1:0' })).toMatchObject({
      inputPerMillion: 1.5,
    });
    expect(allowedModel(models, { provider: 'bedrock', id: 'amazon.nova-pro-v1:0' })).toBeUndefined();
    expect(allowedModel(models, { provider: 'local' })).toBeUndefined();
    expect(() => parseModels('["bedrock:acme.unpriced"]')).toThrow(/has no price in the price table/);
    expect(() => parseModels('[{"provider":"bedrock","id":"x"}]')).toThrow(/Invalid models list: \[0/);
    expect(() => parseModels('not json')).toThrow(/not JSON/);
    expect(() => parseModels('[]')).toThrow(/Invalid models list/);
    expect(parseModels(undefined)).toBe(DEFAULT_MODELS);
  });
});
