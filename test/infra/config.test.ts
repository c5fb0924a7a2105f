import { EngineVersion } from 'aws-cdk-lib/aws-opensearchservice';
import { configFromContext, DEFAULT_ENGINE_VERSION, parseConfig } from '../../lib/config.ts';
import { DEFAULT_MODELS } from '../../shared/domain/models.ts';

/** Context lookup over a plain object, as `app.node.tryGetContext` would answer. */
const context = (values: Record<string, unknown>) => (key: string) => values[key];

describe('deployment config', () => {
  it('has defaults for everything', () => {
    expect(configFromContext(context({}))).toEqual({
      stage: 'dev',
      embeddingProvider: 'bedrock',
      embeddingModelId: 'amazon.titan-embed-text-v2:0',
      embeddingDimension: 1024,
      defaultChatModelId: 'anthropic.claude-3-5-haiku-20241022-v1:0',
      models: DEFAULT_MODELS,
      rerankModelId: 'cohere.rerank-v3-5:0',
      openSearch: {
        instanceType: 't3.small.search',
        instanceCount: 1,
        volumeSizeGb: 10,
        dedicatedMasterCount: 0,
        dedicatedMasterInstanceType: 'm7g.large.search',
        zoneAwareness: false,
        engineVersion: DEFAULT_ENGINE_VERSION,
      },
      logRetentionDays: 30,
      apiThrottle: { rateLimit: 100, burstLimit: 200 },
      wafRateLimit: 3000,
      wafTenantRateLimit: 6000,
      reservedConcurrency: {},
    });
  });

  it('defaults to the newest OpenSearch engine aws-cdk-lib knows', () => {
    const versions = Object.values(EngineVersion)
      .filter((v): v is EngineVersion => v instanceof EngineVersion)
      .map((v) => v.version)
      .filter((v) => v.startsWith('OpenSearch_'))
      .map((v) => v.replace('OpenSearch_', '').split('.').map(Number) as [number, number]);
    const newest = versions.sort((a, b) => b[0] - a[0] || b[1] - a[1])[0] ?? [0, 0];
    expect(DEFAULT_ENGINE_VERSION).toBe(`OpenSearch_${newest.join('.')}`);
  });

  it('reads a `parley` JSON string and lets flat keys override it, coercing strings', () => {
    const config = configFromContext(
      context({
        parley: JSON.stringify({
          stage: 'staging',
          openSearch: { instanceCount: '2', zoneAwareness: 'true' },
          apiThrottle: { rateLimit: 10, burstLimit: 20 },
        }),
        stage: 'prod',
        logRetentionDays: '90',
        alarmEmail: 'oncall@example.com',
      }),
    );
    expect(config).toMatchObject({
      stage: 'prod',
      logRetentionDays: 90,
      alarmEmail: 'oncall@example.com',
      openSearch: { instanceCount: 2, zoneAwareness: true, volumeSizeGb: 10 },
      apiThrottle: { rateLimit: 10, burstLimit: 20 },
    });
  });

  it('reads a `parley` object (cdk.json context)', () => {
    expect(
      configFromContext(context({ parley: { publicBaseUrl: 'https://chat.example.com' } })),
    ).toMatchObject({
      publicBaseUrl: 'https://chat.example.com',
    });
  });

  it('defaults the embedding model per provider and keeps an explicit one', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:parley-openai-AbC123';
    expect(parseConfig({ embeddingProvider: 'openai', openAiSecretArn: secret })).toMatchObject({
      embeddingProvider: 'openai',
      embeddingModelId: 'text-embedding-3-small',
      embeddingDimension: 1024,
      openAiSecretArn: secret,
    });
    expect(
      parseConfig({
        embeddingProvider: 'openai',
        embeddingModelId: 'text-embedding-3-large',
        embeddingDimension: 3072,
        openAiSecretArn: secret,
      }),
    ).toMatchObject({ embeddingModelId: 'text-embedding-3-large', embeddingDimension: 3072 });
    expect(parseConfig({ embeddingModelId: 'cohere.embed-english-v3' })).toMatchObject({
      embeddingProvider: 'bedrock',
      embeddingModelId: 'cohere.embed-english-v3',
    });
  });

  it('takes an OpenAI key for chat while Bedrock embeds', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:parley-openai-AbC123';
    expect(parseConfig({ openAiSecretArn: secret })).toMatchObject({
      embeddingProvider: 'bedrock',
      openAiSecretArn: secret,
    });
  });

  it.each([256, 512, 1024])('accepts Titan v2 dimension %d', (dimension) => {
    expect(parseConfig({ embeddingDimension: dimension }).embeddingDimension).toBe(dimension);
  });

  it('reads the embedding settings from flat context keys, coercing the dimension', () => {
    const secret = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:parley-openai-AbC123';
    expect(
      configFromContext(
        context({ embeddingProvider: 'openai', embeddingDimension: '768', openAiSecretArn: secret }),
      ),
    ).toMatchObject({ embeddingProvider: 'openai', embeddingDimension: 768, openAiSecretArn: secret });
  });

  it.each([
    [{ embeddingProvider: 'cohere' }, /embeddingProvider/],
    [{ embeddingDimension: 768 }, /embeddingDimension: must be 256, 512, 1024 for Titan Text Embeddings v2/],
    [{ embeddingDimension: 0 }, /embeddingDimension/],
    [{ embeddingDimension: 1.5 }, /embeddingDimension/],
    [{ embeddingModelId: 'amazon.*' }, /embeddingModelId: must be a Bedrock foundation-model id/],
    [{ embeddingModelId: 'arn:aws:bedrock:us-east-1::foundation-model/x' }, /embeddingModelId/],
    [{ embeddingProvider: 'openai' }, /openAiSecretArn: is required when embeddingProvider is openai/],
    [{ openAiBaseUrl: 'https://llm.example.com/v1' }, /openAiBaseUrl: needs openAiSecretArn/],
    [
      {
        embeddingProvider: 'openai',
        openAiSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:parley-openai-AbC123',
        openAiBaseUrl: 'file:///etc/passwd',
      },
      /openAiBaseUrl/,
    ],
    [
      {
        embeddingProvider: 'openai',
        openAiSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:*',
      },
      /openAiSecretArn: must be the complete ARN/,
    ],
    [
      { embeddingProvider: 'openai', openAiSecretArn: 'parley-openai' },
      /openAiSecretArn: must be the complete ARN/,
    ],
  ])('rejects embedding settings %j naming the field', (input, message) => {
    expect(() => parseConfig(input)).toThrow(message);
  });

  it.each([
    [{ alarmEmail: 'not-an-email' }, /alarmEmail/],
    [{ publicBaseUrl: 'ftp://example.com' }, /publicBaseUrl/],
    [{ stage: 'Prod' }, /stage: must be lowercase/],
    [{ logRetentionDays: 31 }, /logRetentionDays: must be a CloudWatch Logs retention/],
    [{ openSearch: { instanceCount: 3, zoneAwareness: true } }, /openSearch\.instanceCount: must be even/],
    [
      { openSearch: { dedicatedMasterCount: 2 } },
      /openSearch\.dedicatedMasterCount: must be 0 \(none\), 3 or 5/,
    ],
    [{ openSearch: { engineVersion: '3.7' } }, /openSearch\.engineVersion/],
    [
      { apiThrottle: { rateLimit: 100, burstLimit: 10 } },
      /apiThrottle\.burstLimit: must be at least rateLimit/,
    ],
    [{ alarmEmial: 'oncall@example.com' }, /alarmEmial/],
    [{ openSearch: { instanceKind: 'x' } }, /openSearch.*instanceKind/],
  ])('rejects %j naming the field', (input, message) => {
    expect(() => parseConfig(input)).toThrow(message);
    expect(() => parseConfig(input)).toThrow(/^Invalid Parley config: /);
  });

  it('rejects a `parley` context value that is not a JSON object', () => {
    expect(() => configFromContext(context({ parley: '{nope' }))).toThrow(
      /parley: context value is not valid JSON/,
    );
    expect(() => configFromContext(context({ parley: '[1]' }))).toThrow(/parley: must be a JSON object/);
  });
});
