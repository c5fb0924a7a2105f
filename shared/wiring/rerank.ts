import * as z from 'zod';
import type { Reranker } from '../ports/reranker.ts';
import { optional, readEnv } from './env.ts';

// Builds the deployment's reranker from the environment: a Bedrock reranker when RERANK_MODEL_ID
// is set (the stack sets it on the functions that retrieve, unless `rerankModelId` is `none`),
// otherwise none, and retrieval keeps its fused order. The endpoint can be pointed elsewhere (the
// local platform, tests) with AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME. The SDK is imported only
// when a reranker is built.

/**
 * A Bedrock reranking model's id, e.g. `cohere.rerank-v3-5:0` or `amazon.rerank-v1:0` (the stack's
 * config checks `rerankModelId` with it too): it names exactly one foundation-model ARN.
 */
export const RERANK_MODEL_ID = /^[a-z0-9-]+\.[A-Za-z0-9._-]*rerank[A-Za-z0-9._:-]*$/;

const rerankEnv = (env: NodeJS.ProcessEnv) =>
  readEnv(
    {
      RERANK_MODEL_ID: z
        .string()
        .regex(RERANK_MODEL_ID, 'must be a Bedrock reranking model id like cohere.rerank-v3-5:0')
        .optional(),
      AWS_REGION: optional,
      AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME: z.url({ protocol: /^https?$/ }).optional(),
    },
    env,
  );

/** The deployment's reranker, or undefined when RERANK_MODEL_ID is not set. */
export async function createRerankerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Promise<Reranker | undefined> {
  const {
    RERANK_MODEL_ID: modelId,
    AWS_REGION: region,
    AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME: endpoint,
  } = rerankEnv(env);
  if (!modelId) return undefined;
  const { createBedrockAgentRuntimeClient, createBedrockReranker } = await import(
    '../adapters/rerank/bedrock.ts'
  );
  const client = createBedrockAgentRuntimeClient({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
  });
  return createBedrockReranker({ client, modelId, ...(region ? { region } : {}) });
}
