import type { Template } from 'aws-cdk-lib/assertions';
import { configFromContext, DEFAULT_RERANK_MODEL_ID, parseConfig } from '../../lib/config.ts';
import type { ParleyStack } from '../../lib/parley-stack.ts';
import { type FunctionName, functions } from '../../shared/resources.ts';
import { asArray, build, logicalId, type Resource, render, roleStatements } from './template.ts';

// The deployment's reranking model: validated in the config, given as RERANK_MODEL_ID to the
// functions whose definition lists the `rerank` model (those that run retrieval), with exactly
// bedrock:Rerank and bedrock:InvokeModel on that one model's ARN, and nothing for the others.

const names = Object.keys(functions) as FunctionName[];
const reranks = (name: FunctionName) =>
  ((functions[name] as { models?: readonly string[] }).models ?? []).includes('rerank');
const modelArn = (id: string) => `arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/${id}`;

type Built = { stack: ParleyStack; template: Template };
let defaults: Built;
let amazon: Built;
let off: Built;
beforeAll(() => {
  defaults = build();
  amazon = build({ rerankModelId: 'amazon.rerank-v1:0' });
  off = build({ rerankModelId: 'none' });
});

function env(built: Built, name: FunctionName): Record<string, unknown> {
  const id = logicalId(built.stack, built.stack.functions.functions[name]);
  const fn = built.template.findResources('AWS::Lambda::Function')[id] as Resource;
  return (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
}

function statements(built: Built, name: FunctionName) {
  const roleId = logicalId(built.stack, built.stack.functions.functions[name].role as never);
  return roleStatements(built.template, roleId);
}

/** The rendered resources of the role's statements that allow `action`. */
function resourcesFor(built: Built, name: FunctionName, action: string): string[] {
  return statements(built, name)
    .filter((s) => s.Effect === 'Allow' && asArray(s.Action).includes(action))
    .flatMap((s) => asArray(s.Resource).map(render))
    .sort();
}

describe('rerankModelId (config)', () => {
  it('defaults to Cohere Rerank 3.5, the model offered in the most regions (us-east-1 included)', () => {
    expect(DEFAULT_RERANK_MODEL_ID).toBe('cohere.rerank-v3-5:0');
    expect(parseConfig({}).rerankModelId).toBe('cohere.rerank-v3-5:0');
  });

  it('takes another reranking model, from `parley` or a flat context key, and `none` to turn it off', () => {
    expect(parseConfig({ rerankModelId: 'amazon.rerank-v1:0' }).rerankModelId).toBe('amazon.rerank-v1:0');
    const context = (values: Record<string, unknown>) => (key: string) => values[key];
    expect(configFromContext(context({ rerankModelId: 'amazon.rerank-v1:0' })).rerankModelId).toBe(
      'amazon.rerank-v1:0',
    );
    expect(
      configFromContext(context({ parley: JSON.stringify({ rerankModelId: 'amazon.rerank-v1:0' }) }))
        .rerankModelId,
    ).toBe('amazon.rerank-v1:0');
    expect(parseConfig({ rerankModelId: 'none' }).rerankModelId).toBeUndefined();
    expect(configFromContext(context({ rerankModelId: 'none' })).rerankModelId).toBeUndefined();
  });

  it.each([
    'anthropic.claude-3-5-haiku-20241022-v1:0', // a chat model
    'cohere.*', // a wildcard
    'arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0', // an ARN, not an id
    'rerank',
    '',
  ])('rejects %j naming the field', (rerankModelId) => {
    expect(() => parseConfig({ rerankModelId })).toThrow(
      /^Invalid Parley config: rerankModelId: must be a Bedrock reranking model id/,
    );
  });
});

describe('the functions that retrieve', () => {
  it('are the ones whose definition lists the rerank model: chat, chat-stream, reply and admin among them', () => {
    expect(names.filter(reranks)).toEqual(expect.arrayContaining(['admin', 'chat', 'chat-stream', 'reply']));
    for (const name of names.filter(reranks)) {
      // Only functions that read the index run retrieval.
      expect({ name, search: (functions[name] as { search?: string }).search }).toEqual({
        name,
        search: 'read',
      });
    }
    for (const name of ['embed', 'ingest', 'upload', 'webhooks', 'sweeper'] as const) {
      expect({ name, reranks: reranks(name) }).toEqual({ name, reranks: false });
    }
  });

  it('get RERANK_MODEL_ID, and no other function does', () => {
    for (const built of [defaults, amazon]) {
      const expected = built === amazon ? 'amazon.rerank-v1:0' : 'cohere.rerank-v3-5:0';
      for (const name of names) {
        expect({ name, model: env(built, name).RERANK_MODEL_ID }).toEqual({
          name,
          model: reranks(name) ? expected : undefined,
        });
      }
    }
  });

  it('may call exactly bedrock:Rerank (on "*", which it requires) and InvokeModel on the one reranking model', () => {
    for (const [built, id] of [
      [defaults, 'cohere.rerank-v3-5:0'],
      [amazon, 'amazon.rerank-v1:0'],
    ] as const) {
      for (const name of names) {
        const rerank = statements(built, name).filter((s) => asArray(s.Action).includes('bedrock:Rerank'));
        const invokes = resourcesFor(built, name, 'bedrock:InvokeModel');
        if (reranks(name)) {
          // On "*", which CDK merges with X-Ray's (also "*"): no other action comes with it.
          expect({ name, rerank }).toEqual({
            name,
            rerank: [expect.objectContaining({ Effect: 'Allow', Resource: '*' })],
          });
          const onAny = asArray(rerank[0]?.Action ?? []).filter((a) => !a.startsWith('xray:'));
          expect({ name, onAny }).toEqual({ name, onAny: ['bedrock:Rerank'] });
          expect({ name, conditions: rerank[0]?.Condition }).toEqual({ name, conditions: undefined });
          expect({ name, invokes }).toEqual({ name, invokes: expect.arrayContaining([modelArn(id)]) });
        } else {
          expect({ name, rerank }).toEqual({ name, rerank: [] });
          expect({ name, invokes: invokes.filter((r) => r.includes('rerank')) }).toEqual({
            name,
            invokes: [],
          });
        }
      }
    }
    // Admin reads the index and reranks; it invokes no chat model.
    expect(resourcesFor(defaults, 'admin', 'bedrock:InvokeModel')).toEqual(
      [modelArn('amazon.titan-embed-text-v2:0'), modelArn('cohere.rerank-v3-5:0')].sort(),
    );
    // The reranking model's grant does not depend on the embedding provider.
    const openai = build({
      embeddingProvider: 'openai',
      openAiSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/openai-AbCdEf',
    });
    expect(resourcesFor(openai, 'admin', 'bedrock:InvokeModel')).toEqual([modelArn('cohere.rerank-v3-5:0')]);
    expect(resourcesFor(openai, 'admin', 'bedrock:Rerank')).toEqual(['*']);
  });

  it('get no reranking model, variable or grant when rerankModelId is none', () => {
    for (const name of names) {
      expect({ name, model: env(off, name).RERANK_MODEL_ID }).toEqual({ name, model: undefined });
      expect({ name, rerank: resourcesFor(off, name, 'bedrock:Rerank') }).toEqual({ name, rerank: [] });
      const invokes = resourcesFor(off, name, 'bedrock:InvokeModel').filter((r) => r.includes('rerank'));
      expect({ name, invokes }).toEqual({ name, invokes: [] });
    }
  });
});
