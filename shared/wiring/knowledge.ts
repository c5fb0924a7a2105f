import { join } from 'node:path';
import type { Embedder } from '../ports/embedder.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import type { RetrievalDeps } from '../usecases/deps.ts';
import { optional, readEnv } from './env.ts';
import { createRerankerFromEnv } from './rerank.ts';

// Builds the deployment's embedder and vector index from the environment. The local-only
// packages (LanceDB, the offline TensorFlow.js model) are imported dynamically, and only when
// selected, so Lambda bundles leave them out (lib/bundling.ts marks them external).

const knowledgeEnv = () =>
  readEnv({
    EMBEDDING_PROVIDER: optional,
    EMBEDDING_MODEL_ID: optional,
    EMBEDDING_DIMENSION: optional,
    OPENSEARCH_ENDPOINT: optional,
    PARLEY_DATA_DIR: optional,
    AWS_REGION: optional,
    OPENAI_API_KEY: optional,
    OPENAI_API_KEY_SECRET_ARN: optional,
    OPENAI_BASE_URL: optional,
  });

export async function createEmbedderFromEnv(): Promise<Embedder> {
  const env = knowledgeEnv();
  const provider = env.EMBEDDING_PROVIDER ?? 'local';
  const dimension = Number(env.EMBEDDING_DIMENSION ?? 1024);
  switch (provider) {
    case 'local': {
      const { createLocalEmbedder } = await import('../adapters/embedders/local.ts');
      return createLocalEmbedder();
    }
    case 'bedrock': {
      const { createBedrockEmbedder, createBedrockRuntimeClient } = await import(
        '../adapters/embedders/bedrock.ts'
      );
      return createBedrockEmbedder({
        client: createBedrockRuntimeClient(),
        modelId: env.EMBEDDING_MODEL_ID ?? 'amazon.titan-embed-text-v2:0',
        dimension,
      });
    }
    case 'openai': {
      const [{ default: OpenAI }, { createOpenAIEmbedder }, { resolveOpenAIKey }] = await Promise.all([
        import('openai'),
        import('../adapters/embedders/openai.ts'),
        import('../adapters/openai-key.ts'),
      ]);
      const client = new OpenAI({
        apiKey: await resolveOpenAIKey(env),
        baseURL: env.OPENAI_BASE_URL,
        maxRetries: 0,
      });
      return createOpenAIEmbedder({
        client,
        model: env.EMBEDDING_MODEL_ID ?? 'text-embedding-3-small',
        dimension,
      });
    }
    default:
      throw new Error(
        `Invalid environment: EMBEDDING_PROVIDER must be local, bedrock or openai, not ${provider}`,
      );
  }
}

export async function createVectorIndexFromEnv(
  embedder: Pick<Embedder, 'modelId' | 'dimension'>,
): Promise<VectorIndex> {
  const env = knowledgeEnv();
  if (env.OPENSEARCH_ENDPOINT) {
    const { createOpenSearchClient, createOpenSearchVectorIndex } = await import(
      '../adapters/vector/opensearch.ts'
    );
    const client = createOpenSearchClient({
      endpoint: env.OPENSEARCH_ENDPOINT,
      region: env.AWS_REGION ?? 'us-east-1',
    });
    return createOpenSearchVectorIndex({ client, modelId: embedder.modelId, dimension: embedder.dimension });
  }
  if (!env.PARLEY_DATA_DIR) {
    throw new Error(
      'Invalid environment: set OPENSEARCH_ENDPOINT (AWS) or PARLEY_DATA_DIR (local vector index)',
    );
  }
  const { createLanceVectorIndex } = await import('../adapters/vector/lancedb.ts');
  return createLanceVectorIndex({
    dir: join(env.PARLEY_DATA_DIR, 'lancedb'),
    modelId: embedder.modelId,
    dimension: embedder.dimension,
  });
}

/**
 * What retrieval needs, from the environment: the embedder, the index and, when the deployment
 * has a reranking model, the reranker. Wrap it in `once`: the offline model takes seconds to load.
 */
export async function createRetrievalDepsFromEnv(): Promise<Omit<RetrievalDeps, 'rewrite'>> {
  const embedder = await createEmbedderFromEnv();
  const [index, reranker] = await Promise.all([createVectorIndexFromEnv(embedder), createRerankerFromEnv()]);
  return { embedder, index, ...(reranker && { reranker }) };
}
