import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { EngineVersion } from 'aws-cdk-lib/aws-opensearchservice';
import * as z from 'zod';
import { parseModels } from '../shared/domain/models.ts';
import { type FunctionName, functions } from '../shared/resources.ts';
import { RERANK_MODEL_ID } from '../shared/wiring/rerank.ts';

// Deployment configuration, read from CDK context and validated once, before any construct exists.
//
// Two ways to set it (flat keys win over the object):
//   1. one context key `parley` holding an object (in cdk.json) or a JSON string on the command line:
//        cdk synth -c parley='{"stage":"prod","openSearch":{"instanceCount":2,"zoneAwareness":true}}'
//   2. flat keys for the top-level scalar settings:
//        cdk synth -c stage=prod -c alarmEmail=oncall@example.com -c logRetentionDays=90
//      (`stage`, `publicBaseUrl`, `alarmEmail`, `wafRateLimit`, `wafTenantRateLimit`,
//      `originSecretVersionId`, `embeddingProvider`, `embeddingModelId`, `embeddingDimension`,
//      `openAiSecretArn`, `openAiBaseUrl`, `defaultChatModelId`, `models`, `rerankModelId`,
//      `logRetentionDays`).
//      Nested settings (`openSearch`, `apiThrottle`) go through `parley`.
// Command-line context values arrive as strings, so numbers and booleans are coerced. Unknown keys
// inside `parley` are rejected, so a typo fails the synth instead of being silently ignored.

/** The embedding model per provider when `embeddingModelId` is not set. */
export const DEFAULT_EMBEDDING_MODELS = {
  bedrock: 'amazon.titan-embed-text-v2:0',
  openai: 'text-embedding-3-small',
} as const;

export type EmbeddingProvider = keyof typeof DEFAULT_EMBEDDING_MODELS;

/** Titan Text Embeddings v2 returns vectors of these sizes only. */
export const TITAN_V2_DIMENSIONS: readonly number[] = [256, 512, 1024];
const TITAN_V2 = /^amazon\.titan-embed-text-v2(:|$)/;

/**
 * A Bedrock foundation-model id (`provider.model[:version]`): it names exactly one model ARN, so the
 * embedding functions' InvokeModel grant can never become a wildcard.
 */
const BEDROCK_MODEL_ID = /^[a-z0-9-]+\.[A-Za-z0-9._:-]+$/;

/**
 * The reranking model when `rerankModelId` is not set. Cohere Rerank 3.5 is offered in every region
 * that offers Amazon Rerank 1.0 (ap-northeast-1, ca-central-1, eu-central-1, us-west-2) and in
 * us-east-1 too, where Amazon's is not (Bedrock user guide, "Supported Regions and models for
 * reranking"). It is a third-party model: its first call in an account subscribes the account
 * through AWS Marketplace, which the functions' roles may not do, so enable it once as an admin.
 */
export const DEFAULT_RERANK_MODEL_ID = 'cohere.rerank-v3-5:0';

/** A complete Secrets Manager secret ARN, with the six-character suffix Secrets Manager appends. */
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

/** The newest OpenSearch engine aws-cdk-lib 2.276 knows (k-NN with faiss HNSW). */
export const DEFAULT_ENGINE_VERSION = EngineVersion.OPENSEARCH_3_7.version;

const RETENTION_DAYS = new Set<number>(Object.values(RetentionDays).filter((v) => typeof v === 'number'));

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

const openSearchSchema = z.strictObject({
  instanceType: z
    .string()
    .regex(/^[a-z0-9]+\.[a-z0-9]+\.search$/, 'must be an OpenSearch instance type like t3.small.search')
    .default('t3.small.search'),
  instanceCount: count(1, 80).default(1),
  volumeSizeGb: count(10, 3072).default(10),
  /** 0 = no dedicated master nodes; otherwise 3 or 5. */
  dedicatedMasterCount: z.coerce
    .number()
    .refine((n) => n === 0 || n === 3 || n === 5, 'must be 0 (none), 3 or 5')
    .default(0),
  dedicatedMasterInstanceType: z
    .string()
    .regex(/^[a-z0-9]+\.[a-z0-9]+\.search$/, 'must be an OpenSearch instance type like m7g.large.search')
    .default('m7g.large.search'),
  /** Spread data nodes over two availability zones (needs an even instanceCount). */
  zoneAwareness: flag.default(false),
  engineVersion: z
    .string()
    .regex(/^OpenSearch_\d+\.\d+$/, 'must look like OpenSearch_3.7')
    .default(DEFAULT_ENGINE_VERSION),
});

const apiThrottleSchema = z.strictObject({
  /** Steady-state requests per second across the stage. */
  rateLimit: z.coerce.number().positive().default(100),
  burstLimit: count(1, 100_000).default(200),
});

export const configSchema = z
  .strictObject({
    /** Names the stack (`Parley-<stage>`) and the resources that have names. */
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be lowercase letters, digits and dashes, starting with a letter')
      .default('dev'),
    /** Public base URL of the API (custom domain); webhook URLs shown to admins are built from it. */
    publicBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Subscribed to the on-call topic when set. */
    alarmEmail: z.email().optional(),
    /** A pager's HTTPS endpoint, subscribed to the on-call topic when set. */
    alarmHttpsEndpoint: z.url({ protocol: /^https$/ }).optional(),
    /** The WAF's limit of API requests per viewer IP in any 5 minutes (then blocked for a while). */
    wafRateLimit: count(100, 2_000_000_000).default(3000),
    /**
     * The WAF's limit of requests per tenant key, and per bot's chat path, in any 5 minutes: one
     * tenant cannot take the stage's rate (apiThrottle).
     */
    wafTenantRateLimit: count(100, 2_000_000_000).default(6000),
    /**
     * The version of the origin secret CloudFront, the WAF and the chat functions use (the VersionId
     * `put-secret-value` prints): setting a new one is how the secret is rotated (docs/ARCHITECTURE.md,
     * "The edge"). Unset: the version current at the first deploy.
     */
    originSecretVersionId: z
      .string()
      .regex(/^[A-Za-z0-9-]{32,64}$/, 'must be a Secrets Manager VersionId (a UUID)')
      .optional(),
    /**
     * Who embeds documents and queries. The model is a deployment setting, not a bot's: documents
     * are indexed with it, one vector index per model and dimension.
     */
    embeddingProvider: z.enum(['bedrock', 'openai']).default('bedrock'),
    /** Defaults to Titan Text Embeddings v2 (bedrock) or text-embedding-3-small (openai). */
    embeddingModelId: z.string().min(1).optional(),
    /** Vector size: 256, 512 or 1024 for Titan v2; any size the model supports for openai. */
    embeddingDimension: z.coerce.number().int().positive().default(1024),
    /**
     * Existing Secrets Manager secret holding the OpenAI API key, the complete ARN as the console
     * shows it: required to embed with openai, and what bots whose model provider is openai use
     * (whichever provider embeds).
     */
    openAiSecretArn: z
      .string()
      .regex(
        SECRET_ARN,
        'must be the complete ARN of a Secrets Manager secret (arn:aws:secretsmanager:…:secret:name-AbCdEf)',
      )
      .optional(),
    /** An OpenAI-compatible server instead of api.openai.com, for embedding and chat alike. */
    openAiBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
    defaultChatModelId: z.string().min(1).default('anthropic.claude-3-5-haiku-20241022-v1:0'),
    /**
     * The chat models bots may choose, with their prices (shared/domain/models.ts): a JSON array of
     * "provider:model" or {provider, id, inputPerMillion, outputPerMillion}. The functions get it as
     * PARLEY_MODELS, and the chat functions may invoke only its Bedrock models. Defaults to the price
     * table's chat models and the offline one.
     */
    models: z
      .unknown()
      .optional()
      .transform((value, ctx) => {
        try {
          return parseModels(
            value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value),
          );
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      }),
    /**
     * The Bedrock reranking model (Rerank API) that retrieval may reorder its candidates with, for
     * the bots whose `retrieval.rerank` is on; `none` leaves the retrieving functions without it
     * (no RERANK_MODEL_ID, no grant), for regions that offer no reranking model.
     */
    rerankModelId: z
      .string()
      .refine(
        (id) => id === 'none' || RERANK_MODEL_ID.test(id),
        'must be a Bedrock reranking model id like cohere.rerank-v3-5:0 or amazon.rerank-v1:0, or none',
      )
      .default(DEFAULT_RERANK_MODEL_ID),
    openSearch: openSearchSchema.prefault({}),
    logRetentionDays: z.coerce
      .number()
      .refine(
        (n) => RETENTION_DAYS.has(n),
        'must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, …)',
      )
      .default(30),
    apiThrottle: apiThrottleSchema.prefault({}),
    /**
     * Concurrency reserved per function (e.g. `{"chat": 100, "webhooks": 20}`), so a burst of one
     * cannot starve another. Off by default: a new account has little concurrency to reserve.
     */
    reservedConcurrency: z
      .partialRecord(z.enum(Object.keys(functions) as [FunctionName, ...FunctionName[]]), count(1, 10_000))
      .default({}),
  })
  .superRefine((config, ctx) => {
    const { zoneAwareness, instanceCount } = config.openSearch;
    if (zoneAwareness && instanceCount % 2 !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['openSearch', 'instanceCount'],
        message: 'must be even when zoneAwareness is on (nodes are spread over two availability zones)',
      });
    }
    if (config.apiThrottle.burstLimit < config.apiThrottle.rateLimit) {
      ctx.addIssue({
        code: 'custom',
        path: ['apiThrottle', 'burstLimit'],
        message: 'must be at least rateLimit',
      });
    }
    const modelId = config.embeddingModelId ?? DEFAULT_EMBEDDING_MODELS[config.embeddingProvider];
    if (config.embeddingProvider === 'bedrock') {
      if (!BEDROCK_MODEL_ID.test(modelId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['embeddingModelId'],
          message: 'must be a Bedrock foundation-model id like amazon.titan-embed-text-v2:0',
        });
      }
      if (TITAN_V2.test(modelId) && !TITAN_V2_DIMENSIONS.includes(config.embeddingDimension)) {
        ctx.addIssue({
          code: 'custom',
          path: ['embeddingDimension'],
          message: `must be ${TITAN_V2_DIMENSIONS.join(', ')} for Titan Text Embeddings v2`,
        });
      }
    }
    if (config.openAiBaseUrl !== undefined && config.openAiSecretArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['openAiBaseUrl'],
        message: 'needs openAiSecretArn (the key for that server)',
      });
    }
    if (config.embeddingProvider === 'openai' && config.openAiSecretArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['openAiSecretArn'],
        message: 'is required when embeddingProvider is openai (the secret holding the OpenAI API key)',
      });
    }
  })
  .transform(({ rerankModelId, ...config }) => ({
    ...config,
    embeddingModelId: config.embeddingModelId ?? DEFAULT_EMBEDDING_MODELS[config.embeddingProvider],
    /** Undefined when reranking is off for the deployment (`none`). */
    rerankModelId: rerankModelId === 'none' ? undefined : rerankModelId,
  }));

export type ParleyConfig = z.output<typeof configSchema>;
export type ParleyConfigInput = z.input<typeof configSchema>;

/** Validates a config object; the error names every invalid field by its path. */
export function parseConfig(input: unknown): ParleyConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`Invalid Parley config: ${problems.join('; ')}`);
  }
  return result.data;
}

/** The top-level settings that may also be given as flat context keys. */
export const FLAT_CONTEXT_KEYS = [
  'stage',
  'publicBaseUrl',
  'alarmEmail',
  'alarmHttpsEndpoint',
  'wafRateLimit',
  'wafTenantRateLimit',
  'originSecretVersionId',
  'embeddingProvider',
  'embeddingModelId',
  'embeddingDimension',
  'openAiSecretArn',
  'openAiBaseUrl',
  'defaultChatModelId',
  'models',
  'rerankModelId',
  'logRetentionDays',
] as const;

/** Reads the config from CDK context (see the comment at the top of this file). */
export function configFromContext(tryGetContext: (key: string) => unknown): ParleyConfig {
  const raw = tryGetContext('parley');
  let base: unknown = {};
  if (typeof raw === 'string') {
    try {
      base = JSON.parse(raw);
    } catch (error) {
      throw new Error(`Invalid Parley config: parley: context value is not valid JSON (${String(error)})`);
    }
  } else if (raw !== undefined) {
    base = raw;
  }
  if (typeof base !== 'object' || base === null || Array.isArray(base)) {
    throw new Error('Invalid Parley config: parley: must be a JSON object');
  }
  const merged: Record<string, unknown> = { ...base };
  for (const key of FLAT_CONTEXT_KEYS) {
    const value = tryGetContext(key);
    if (value !== undefined) merged[key] = value;
  }
  return parseConfig(merged);
}
