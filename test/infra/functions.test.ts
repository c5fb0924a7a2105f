import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import {
  BUNDLE_FILE,
  bundleExtras,
  esbuildOptions,
  FUNCTION_HANDLER,
  LOCAL_ONLY_MODULES,
  PDFJS_EXTRAS,
} from '../../lib/bundling.ts';
import { OBJECT_KEY_PREFIXES } from '../../lib/constructs/data.ts';
import { ENV, REPO_ROOT } from '../../lib/constructs/functions.ts';
import type { ParleyStack } from '../../lib/parley-stack.ts';
import { chunkIndexName } from '../../shared/adapters/vector/index-name.ts';
import { documentKey } from '../../shared/domain/document.ts';
import {
  type FunctionDefinition,
  type FunctionName,
  functions,
  queues,
  type ResourceDefinitions,
  resources,
  type TableName,
} from '../../shared/resources.ts';
import {
  asArray,
  build,
  logicalId,
  type Resource,
  render,
  roleStatements,
  type Statement,
} from './template.ts';

// What each function gets from its definition: settings, event sources, schedule, environment,
// and a role with nothing more than its definition lists.

const names = Object.keys(functions) as FunctionName[];
const DOCUMENTS_BUCKET = resources.buckets.documents.envVar;
const OPENAI_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:parley/openai-AbCdEf';

let bedrock: { stack: ParleyStack; template: Template };
let openai: { stack: ParleyStack; template: Template };
beforeAll(() => {
  bedrock = build();
  openai = build({
    embeddingProvider: 'openai',
    embeddingDimension: 1536,
    openAiSecretArn: OPENAI_SECRET_ARN,
    openAiBaseUrl: 'https://llm.example.com/v1',
  });
});

function lambda(built: typeof bedrock, name: FunctionName): Resource {
  const id = logicalId(built.stack, built.stack.functions.functions[name]);
  return built.template.findResources('AWS::Lambda::Function')[id] as Resource;
}

function env(built: typeof bedrock, name: FunctionName): Record<string, unknown> {
  return (
    (lambda(built, name).Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)
      ?.Variables ?? {}
  );
}

function statements(built: typeof bedrock, name: FunctionName): Statement[] {
  const roleId = logicalId(built.stack, built.stack.functions.functions[name].role as never);
  return roleStatements(built.template, roleId);
}

/** `action → rendered resources` for the role's statements whose actions start with `prefix`. */
function grants(built: typeof bedrock, name: FunctionName, prefix: string): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const statement of statements(built, name)) {
    for (const action of asArray(statement.Action).filter((a) => a.startsWith(prefix))) {
      result[action] = [...(result[action] ?? []), ...asArray(statement.Resource).map(render)].sort();
    }
  }
  return result;
}

describe('function settings', () => {
  it.each(names)('%s runs on nodejs24.x with the memory and timeout of its definition', (name) => {
    expect(lambda(bedrock, name).Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      MemorySize: functions[name].memoryMb,
      Timeout: functions[name].timeoutSeconds,
    });
  });

  it('deploys every function of the definitions', () => {
    expect(names.sort()).toEqual([
      'admin',
      'chat',
      'chat-stream',
      'embed',
      'evaluate',
      'ingest',
      'reply',
      'sweeper',
      'upload',
      'webhooks',
    ]);
    expect(lambda(bedrock, 'ingest').Properties).toMatchObject({ MemorySize: 2048, Timeout: 300 });
  });
});

describe('queue consumers', () => {
  const consumers = names.filter((name) => functions[name as 'ingest'].consumes !== undefined) as (
    | 'ingest'
    | 'embed'
  )[];

  it('are ingest, embed, reply and evaluate', () => {
    expect(consumers.sort()).toEqual(['embed', 'evaluate', 'ingest', 'reply']);
  });

  it('evaluate takes one run per invocation from its own queue, which only admin may send to', () => {
    const queue = bedrock.stack.queues.queues.evaluate;
    bedrock.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: Match.stringLikeRegexp('-evaluate$'),
      VisibilityTimeout: queues.evaluate.visibilityTimeoutSeconds,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: queues.evaluate.maxReceiveCount }),
    });
    bedrock.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: Match.stringLikeRegexp('-evaluate-dlq$'),
    });
    bedrock.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(bedrock.stack, bedrock.stack.functions.functions.evaluate) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(bedrock.stack, queue), 'Arn'] },
      BatchSize: 1,
    });
    const queueArn = render(bedrock.stack.resolve(queue.queueArn));
    const senders = names.filter((name) =>
      (grants(bedrock, name, 'sqs:')['sqs:SendMessage'] ?? []).includes(queueArn),
    );
    expect(senders).toEqual(['admin']);
    expect(env(bedrock, 'admin')).toHaveProperty('EVALUATE_QUEUE_URL');
    expect(env(bedrock, 'evaluate')).not.toHaveProperty('EVALUATE_QUEUE_URL');
  });

  it('evaluate reads runs, questions and bots, searches the index and embeds, and nothing more', () => {
    expect(env(bedrock, 'evaluate')).toMatchObject({
      TENANTS_TABLE: { Ref: logicalId(bedrock.stack, bedrock.stack.data.tables.tenants) },
      USAGE_TABLE: { Ref: logicalId(bedrock.stack, bedrock.stack.data.tables.usage) },
    });
    expect(env(bedrock, 'evaluate')).not.toHaveProperty('SESSIONS_TABLE');
    expect(grants(bedrock, 'evaluate', 's3:')).toEqual({});
    expect(grants(bedrock, 'evaluate', 'es:')).toEqual(grants(bedrock, 'admin', 'es:'));
    expect(Object.keys(grants(bedrock, 'evaluate', 'es:'))).not.toContain('es:ESHttpPut');
    const model = 'arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/amazon.titan-embed-text-v2:0';
    expect(grants(bedrock, 'evaluate', 'bedrock:')['bedrock:InvokeModel']).toEqual(
      grants(bedrock, 'admin', 'bedrock:')['bedrock:InvokeModel'],
    );
    expect(grants(bedrock, 'evaluate', 'bedrock:')['bedrock:InvokeModel']).toContain(model);
    expect(grants(bedrock, 'evaluate', 'bedrock:')).not.toHaveProperty(
      'bedrock:InvokeModelWithResponseStream',
    );
    expect(grants(bedrock, 'evaluate', 'kms:')).toEqual({});
    expect(grants(bedrock, 'evaluate', 'sns:')).toEqual({});
  });

  it('reply consumes the FIFO reply queue one message per invocation; webhooks may only send to it', () => {
    const replyQueue = bedrock.stack.queues.queues.reply;
    bedrock.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: Match.stringLikeRegexp('reply\\.fifo$'),
      FifoQueue: true,
    });
    bedrock.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(bedrock.stack, bedrock.stack.functions.functions.reply) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(bedrock.stack, replyQueue), 'Arn'] },
      BatchSize: 1,
    });
    const queueArn = render(bedrock.stack.resolve(replyQueue.queueArn));
    const sqs = grants(bedrock, 'webhooks', 'sqs:');
    expect(Object.keys(sqs).sort()).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
    for (const resources of Object.values(sqs)) expect(resources).toEqual([queueArn]);
    expect(env(bedrock, 'webhooks')).toHaveProperty('REPLY_QUEUE_URL');
    expect(env(bedrock, 'reply')).not.toHaveProperty('REPLY_QUEUE_URL');
  });

  it.each(consumers)('%s: batch size, partial batch failures and maximum concurrency', (name) => {
    const { queue, batchSize, maxConcurrency } = functions[name].consumes;
    bedrock.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(bedrock.stack, bedrock.stack.functions.functions[name]) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(bedrock.stack, bedrock.stack.queues.queues[queue]), 'Arn'] },
      BatchSize: batchSize,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: maxConcurrency },
    });
  });

  it('ingest takes one document per invocation, at most 10 at a time', () => {
    bedrock.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(bedrock.stack, bedrock.stack.functions.functions.ingest) },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it.each(consumers)('%s: its queue keeps a message invisible at least as long as it runs', (name) => {
    const queue = functions[name].consumes.queue;
    const queueResource = bedrock.template.findResources('AWS::SQS::Queue')[
      logicalId(bedrock.stack, bedrock.stack.queues.queues[queue])
    ] as Resource;
    const visibility = queueResource.Properties?.VisibilityTimeout as number;
    expect(visibility).toBe(queues[queue].visibilityTimeoutSeconds);
    expect(visibility).toBeGreaterThanOrEqual(lambda(bedrock, name).Properties?.Timeout as number);
  });

  it.each(consumers)('%s: its queue keeps a message invisible six times as long as it may run', (name) => {
    const queue = functions[name].consumes.queue;
    const queueResource = bedrock.template.findResources('AWS::SQS::Queue')[
      logicalId(bedrock.stack, bedrock.stack.queues.queues[queue])
    ] as Resource;
    const timeout = lambda(bedrock, name).Properties?.Timeout as number;
    expect(queueResource.Properties?.VisibilityTimeout).toBe(6 * timeout);
  });

  it('has exactly one event source mapping per consumer', () => {
    bedrock.template.resourceCountIs('AWS::Lambda::EventSourceMapping', consumers.length);
  });
});

describe('schedules', () => {
  it('runs the sweeper every 5 minutes from an EventBridge rule', () => {
    const sweeperArn = {
      'Fn::GetAtt': [logicalId(bedrock.stack, bedrock.stack.functions.functions.sweeper), 'Arn'],
    };
    bedrock.template.resourceCountIs('AWS::Events::Rule', 1);
    bedrock.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        Match.objectLike({
          Arn: sweeperArn,
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
        }),
      ],
    });
    bedrock.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: sweeperArn,
      Principal: 'events.amazonaws.com',
    });
  });

  it('does not retry a failed sweep: the next run does the same work', () => {
    bedrock.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(bedrock.stack, bedrock.stack.functions.functions.sweeper) },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
    });
  });

  it('rejects a schedule that is not a whole number of minutes', () => {
    const definitions = {
      ...resources,
      functions: { ...functions, sweeper: { ...functions.sweeper, schedule: { rateMinutes: 0.5 } } },
    } satisfies ResourceDefinitions;
    expect(() => build({}, definitions)).toThrow(
      /functions\.sweeper\.schedule\.rateMinutes \(0\.5\) must be a whole number of minutes/,
    );
  });
});

describe('environment', () => {
  it('never moves a function’s clock (only the local platform’s test hook does)', () => {
    for (const built of [bedrock, openai]) {
      for (const name of names) expect(env(built, name)).not.toHaveProperty('CLOCK_OFFSET_SECONDS');
    }
  });

  it('gives each function the names of exactly the resources its definition lists', () => {
    for (const name of names) {
      const variables = env(bedrock, name);
      const def = functions[name] as (typeof functions)[FunctionName];
      for (const table of def.tables) expect(variables).toHaveProperty(resources.tables[table].envVar);
      for (const queue of def.sendsTo) expect(variables).toHaveProperty(resources.queues[queue].envVar);
      const hasBucket = 'buckets' in def;
      expect({ name, bucket: DOCUMENTS_BUCKET in variables }).toEqual({ name, bucket: hasBucket });
      const hasSearch = 'search' in def;
      expect({ name, search: ENV.openSearchEndpoint in variables }).toEqual({ name, search: hasSearch });
      for (const other of Object.values(resources.tables).map((t) => t.envVar)) {
        if (!def.tables.some((t) => resources.tables[t].envVar === other)) {
          expect({ name, other, present: other in variables }).toEqual({ name, other, present: false });
        }
      }
    }
    expect(env(bedrock, 'ingest')).toMatchObject({
      TENANTS_TABLE: { Ref: logicalId(bedrock.stack, bedrock.stack.data.tables.tenants) },
      DOCUMENTS_BUCKET: { Ref: logicalId(bedrock.stack, bedrock.stack.data.buckets.documents) },
      EMBED_QUEUE_URL: { Ref: logicalId(bedrock.stack, bedrock.stack.queues.queues.embed) },
    });
  });

  it('gives the embedding settings to the functions that embed, and to no other', () => {
    for (const name of names) {
      const embeds = ((functions[name] as { models?: readonly string[] }).models ?? []).includes('embedding');
      const variables = env(bedrock, name);
      if (embeds) {
        expect(variables).toMatchObject({
          EMBEDDING_PROVIDER: 'bedrock',
          EMBEDDING_MODEL_ID: 'amazon.titan-embed-text-v2:0',
          EMBEDDING_DIMENSION: '1024',
        });
        expect(variables).not.toHaveProperty('OPENAI_API_KEY_SECRET_ARN');
      } else {
        expect(
          Object.keys(variables).filter((k) => k.startsWith('EMBEDDING_') || k.startsWith('OPENAI_')),
        ).toEqual([]);
      }
    }
    expect(names.filter((n) => 'EMBEDDING_PROVIDER' in env(bedrock, n)).sort()).toEqual([
      'admin',
      'chat',
      'chat-stream',
      'embed',
      'evaluate',
      'reply',
    ]);
  });

  it('with the openai provider: the model, dimension and the API key secret’s ARN', () => {
    for (const name of ['admin', 'embed'] as const) {
      expect(env(openai, name)).toMatchObject({
        EMBEDDING_PROVIDER: 'openai',
        EMBEDDING_MODEL_ID: 'text-embedding-3-small',
        EMBEDDING_DIMENSION: '1536',
        OPENAI_API_KEY_SECRET_ARN: OPENAI_SECRET_ARN,
        OPENAI_BASE_URL: 'https://llm.example.com/v1',
      });
    }
    for (const name of ['upload', 'ingest', 'sweeper'] as const) {
      expect(env(openai, name)).not.toHaveProperty('OPENAI_API_KEY_SECRET_ARN');
      expect(env(openai, name)).not.toHaveProperty('OPENAI_BASE_URL');
    }
  });
});

describe('an OpenAI key for chat while Bedrock embeds', () => {
  let built: typeof bedrock;
  beforeAll(() => {
    built = build({ openAiSecretArn: OPENAI_SECRET_ARN, openAiBaseUrl: 'https://llm.example.com/v1' });
  });

  it('reaches the chat functions only, which may read the secret', () => {
    for (const name of names) {
      const chats = ((functions[name] as { models?: readonly string[] }).models ?? []).includes('chat');
      const variables = env(built, name);
      const reads = JSON.stringify(grants(built, name, 'secretsmanager:')).includes(OPENAI_SECRET_ARN);
      expect({ name, key: variables.OPENAI_API_KEY_SECRET_ARN, reads }).toEqual({
        name,
        key: chats ? OPENAI_SECRET_ARN : undefined,
        reads: chats,
      });
      if (chats) expect(variables.OPENAI_BASE_URL).toBe('https://llm.example.com/v1');
    }
    expect(env(built, 'embed')).toMatchObject({ EMBEDDING_PROVIDER: 'bedrock' });
  });
});

describe('least privilege', () => {
  const objects = () => `<${logicalId(bedrock.stack, bedrock.stack.data.buckets.documents)}.Arn>/tenants/*`;

  it('scopes object grants to the key prefix the documents are stored under', () => {
    const key = documentKey({ tenantId: 't1', botId: 'b1', id: 'd1', filename: 'a.pdf' });
    expect(key.startsWith(OBJECT_KEY_PREFIXES.documents)).toBe(true);
  });

  it('S3: upload puts and deletes, ingest reads, admin deletes, embed and sweeper have nothing', () => {
    expect(grants(bedrock, 'upload', 's3:')).toEqual({
      's3:PutObject': [objects()],
      's3:DeleteObject': [objects()],
    });
    expect(grants(bedrock, 'ingest', 's3:')).toEqual({ 's3:GetObject': [objects()] });
    expect(grants(bedrock, 'admin', 's3:')).toEqual({ 's3:DeleteObject': [objects()] });
    expect(grants(bedrock, 'embed', 's3:')).toEqual({});
    expect(grants(bedrock, 'sweeper', 's3:')).toEqual({});
  });

  const WRITES = [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ];
  /** The DynamoDB actions a function has on one table (`<Table.Arn>`) or on one of its indexes. */
  const tableActions = (name: FunctionName, resource: string) =>
    Object.entries(grants(bedrock, name, 'dynamodb:'))
      .filter(([, resources]) => resources.includes(resource))
      .map(([action]) => action)
      .sort();
  const tableArn = (table: TableName) =>
    `<${logicalId(bedrock.stack, bedrock.stack.data.tables[table])}.Arn>`;

  it('DynamoDB: a function that only reads a table may not write it (evaluate: tenants; ingest: usage)', () => {
    expect(tableActions('evaluate', tableArn('tenants'))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
      'dynamodb:GetItem',
      'dynamodb:Query',
    ]);
    for (const action of WRITES) {
      expect(tableActions('evaluate', tableArn('tenants'))).not.toContain(action);
      expect(tableActions('ingest', tableArn('usage'))).not.toContain(action);
      expect(tableActions('embed', tableArn('usage'))).toContain(action);
    }
  });

  it.each(names)('DynamoDB: %s has grants on exactly the tables and indexes its definition lists', (name) => {
    const def: FunctionDefinition = functions[name];
    for (const table of Object.keys(resources.tables) as TableName[]) {
      const listed = def.tables.includes(table);
      expect({ table, granted: tableActions(name, tableArn(table)).length > 0 }).toEqual({
        table,
        granted: listed,
      });
      for (const index of resources.tables[table].globalIndexes) {
        const queries = def.queriesIndexes?.[table]?.includes(index.name) ?? false;
        const actions = tableActions(name, `${tableArn(table)}/index/${index.name}`);
        expect({ table, index: index.name, actions }).toEqual({
          table,
          index: index.name,
          actions: queries ? ['dynamodb:Query'] : [],
        });
      }
    }
    // No wildcard over a table's indexes.
    const resourcesGranted = Object.values(grants(bedrock, name, 'dynamodb:')).flat();
    expect(resourcesGranted.filter((resource) => resource.endsWith('/index/*'))).toEqual([]);
  });

  it('DynamoDB: the chat functions reach the bot by id through the tenants index, never the sessions index', () => {
    for (const name of ['chat', 'chat-stream', 'reply'] as const) {
      expect(tableActions(name, `${tableArn('tenants')}/index/gsi1`)).toEqual(['dynamodb:Query']);
      expect(tableActions(name, `${tableArn('sessions')}/index/gsi1`)).toEqual([]);
    }
    expect(tableActions('upload', tableArn('sessions'))).toEqual([]);
    expect(tableActions('sweeper', tableArn('usage'))).toEqual([]);
  });

  it('S3 list access (when a definition asks for it) is on the bucket, for the key prefix only', () => {
    const definitions = {
      ...resources,
      functions: { ...functions, ingest: { ...functions.ingest, buckets: { documents: ['read', 'list'] } } },
    } satisfies ResourceDefinitions;
    const listed = build({}, definitions);
    const list = statements(listed, 'ingest').filter((st) => asArray(st.Action).includes('s3:ListBucket'));
    expect(list).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [logicalId(listed.stack, listed.stack.data.buckets.documents), 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['tenants/*'] } },
      }),
    ]);
  });

  it('OpenSearch: only embed writes; admin searches, counts and reads; no other role has access', () => {
    const index = `arn:<AWS::Partition>:es:<AWS::Region>:<AWS::AccountId>:domain/parley-dev/${chunkIndexName(
      'amazon.titan-embed-text-v2:0',
      1024,
    )}`;
    expect(index).toMatch(/domain\/parley-dev\/chunks-amazon-titan-embed-text-v2-0-1024$/);
    const onIndex = [index, `${index}/*`];
    expect(grants(bedrock, 'embed', 'es:')).toEqual({
      'es:ESHttpGet': onIndex,
      'es:ESHttpHead': onIndex,
      'es:ESHttpPost': onIndex,
      'es:ESHttpPut': onIndex,
      'es:ESHttpDelete': onIndex,
      'es:ESHttpPatch': onIndex,
    });
    expect(grants(bedrock, 'admin', 'es:')).toEqual({
      'es:ESHttpGet': onIndex,
      'es:ESHttpHead': onIndex,
      'es:ESHttpPost': [`${index}/_count`, `${index}/_msearch`, `${index}/_search`],
    });
    for (const name of ['upload', 'ingest', 'sweeper'] as const) {
      expect(grants(bedrock, name, 'es:')).toEqual({});
    }
  });

  it('OpenSearch: the grants follow the configured embedding model and dimension', () => {
    const embed = grants(openai, 'embed', 'es:')['es:ESHttpPut'] ?? [];
    expect(embed.map((r) => r.replace(/^.*domain\/parley-dev\//, ''))).toEqual([
      'chunks-text-embedding-3-small-1536',
      'chunks-text-embedding-3-small-1536/*',
    ]);
  });

  it('OpenSearch: the domain’s policy gives write methods to embed’s role only', () => {
    const domain = Object.values(
      bedrock.template.findResources('AWS::OpenSearchService::Domain'),
    )[0] as Resource;
    const policy =
      (domain.Properties?.AccessPolicies as { Statement?: Statement[] } | undefined)?.Statement ?? [];
    const writers = policy
      .filter((s) => asArray(s.Action).some((a) => ['es:ESHttpPut', 'es:ESHttpDelete'].includes(a)))
      .map((s) => render((s.Principal as { AWS: unknown }).AWS));
    const embedRole = `<${logicalId(bedrock.stack, bedrock.stack.functions.functions.embed.role as never)}.Arn>`;
    expect(writers).toEqual([embedRole]);
    const adminRole = `<${logicalId(bedrock.stack, bedrock.stack.functions.functions.admin.role as never)}.Arn>`;
    const adminPosts = policy
      .filter((s) => render((s.Principal as { AWS: unknown }).AWS) === adminRole)
      .filter((s) => asArray(s.Action).includes('es:ESHttpPost'))
      .flatMap((s) => asArray(s.Resource).map(render));
    expect(adminPosts.length).toBeGreaterThan(0);
    expect(adminPosts.every((r) => /\/chunks-[a-z0-9-]+\/_(search|msearch|count)$/.test(r))).toBe(true);
  });

  it('denies everyone in the domain policy when no function has search access', () => {
    const withoutSearch = {
      ...resources,
      functions: Object.fromEntries(
        names.map((name) => {
          const { search: _search, ...rest } = functions[name] as (typeof functions)[FunctionName] & {
            search?: string;
          };
          return [name, rest];
        }),
      ),
    } as unknown as ResourceDefinitions;
    build({}, withoutSearch).template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      AccessPolicies: { Statement: [Match.objectLike({ Effect: 'Deny', Principal: { AWS: '*' } })] },
    });
  });

  it('Bedrock: embed invokes only the embedding model, admin also the reranking model; chat also the chat models bots choose', () => {
    const model = 'arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/amazon.titan-embed-text-v2:0';
    const reranker = 'arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/cohere.rerank-v3-5:0';
    expect(grants(bedrock, 'embed', 'bedrock:')).toEqual({ 'bedrock:InvokeModel': [model] });
    // bedrock:Rerank has no resource-level permissions (test/infra/rerank.test.ts).
    expect(grants(bedrock, 'admin', 'bedrock:')).toEqual({
      'bedrock:InvokeModel': [model, reranker].sort(),
      'bedrock:Rerank': ['*'],
    });
    // Audit finding: chat could invoke foundation-model/* in every region. Now: the allow-list's
    // Bedrock models (each family's ids and its cross-region inference profiles), nothing else.
    const chat = grants(bedrock, 'chat', 'bedrock:');
    const family = 'arn:<AWS::Partition>:bedrock:*::foundation-model/anthropic.claude-3-5-haiku*';
    const profile =
      'arn:<AWS::Partition>:bedrock:*:<AWS::AccountId>:inference-profile/*.anthropic.claude-3-5-haiku*';
    expect(chat['bedrock:InvokeModel']).toEqual(expect.arrayContaining([model, family, profile]));
    expect(chat['bedrock:InvokeModelWithResponseStream']).toEqual(expect.arrayContaining([family, profile]));
    for (const action of ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']) {
      expect(chat[action]).not.toContain('arn:<AWS::Partition>:bedrock:*::foundation-model/*');
      expect(chat[action]?.some((arn) => arn.endsWith('/*'))).toBe(false);
      expect(chat[action]?.some((arn) => arn.includes('gpt-4o'))).toBe(false);
    }
    const narrow = build({ models: '["bedrock:amazon.nova-lite","openai:gpt-4o-mini"]' });
    expect(grants(narrow, 'chat', 'bedrock:')['bedrock:InvokeModelWithResponseStream']).toEqual([
      'arn:<AWS::Partition>:bedrock:*::foundation-model/amazon.nova-lite*',
      'arn:<AWS::Partition>:bedrock:*:<AWS::AccountId>:inference-profile/*.amazon.nova-lite*',
    ]);
    expect(() => build({ models: '["bedrock:acme.unpriced"]' })).toThrow(/has no price/);
    for (const name of ['upload', 'ingest', 'sweeper'] as const) {
      expect(grants(bedrock, name, 'bedrock:')).toEqual({});
    }
  });

  it('with the openai provider: no Bedrock for embedding; embed and admin read the API key secret only', () => {
    // The chat pipeline keeps Bedrock's chat models: bots choose their provider whatever embeds
    // the documents.
    const chats = (n: FunctionName) =>
      (functions[n] as { models?: readonly string[] }).models?.includes('chat');
    expect(names.filter(chats).sort()).toEqual(['chat', 'chat-stream', 'reply']);
    // Reranking is Bedrock's whoever embeds (test/infra/rerank.test.ts).
    const reranks = (n: FunctionName) =>
      (functions[n] as { models?: readonly string[] }).models?.includes('rerank');
    for (const name of names.filter((n) => !chats(n))) {
      expect(Object.keys(grants(openai, name, 'bedrock:')).sort()).toEqual(
        reranks(name) ? ['bedrock:InvokeModel', 'bedrock:Rerank'] : [],
      );
    }
    for (const name of names.filter(chats)) {
      expect(Object.keys(grants(openai, name, 'bedrock:')).sort()).toEqual([
        'bedrock:InvokeModel',
        'bedrock:InvokeModelWithResponseStream',
        'bedrock:Rerank',
      ]);
    }
    for (const name of ['embed', 'admin'] as const) {
      const secrets = grants(openai, name, 'secretsmanager:');
      expect(secrets['secretsmanager:GetSecretValue']).toContain(OPENAI_SECRET_ARN);
      expect(secrets['secretsmanager:DescribeSecret']).toContain(OPENAI_SECRET_ARN);
    }
    for (const name of ['upload', 'ingest', 'sweeper'] as const) {
      expect(JSON.stringify(grants(openai, name, 'secretsmanager:'))).not.toContain(OPENAI_SECRET_ARN);
    }
  });

  it('KMS: sealers may generate data keys and decrypt, openers only decrypt, others nothing; all on the channel key (and the on-call topic key for its publishers)', () => {
    const keyArn = render(bedrock.stack.resolve(bedrock.stack.secrets.channelKey.keyArn));
    const topicKeyArn = render(bedrock.stack.resolve(bedrock.stack.monitoring.topic.masterKey?.keyArn));
    for (const name of names) {
      const definition = functions[name] as { channelSecrets?: 'seal' | 'open'; notifiesOnCall?: boolean };
      const access = definition.channelSecrets;
      const kms = grants(bedrock, name, 'kms:');
      const expected: Record<string, string[]> =
        access === 'seal'
          ? { 'kms:Decrypt': [keyArn], 'kms:GenerateDataKey': [keyArn] }
          : access === 'open'
            ? { 'kms:Decrypt': [keyArn] }
            : {};
      if (definition.notifiesOnCall) {
        expected['kms:Decrypt'] = [...(expected['kms:Decrypt'] ?? []), topicKeyArn].sort();
        expected['kms:GenerateDataKey'] = [...(expected['kms:GenerateDataKey'] ?? []), topicKeyArn].sort();
      }
      expect({ name, kms }).toEqual({ name, kms: expected });
      const variables = env(bedrock, name);
      expect({ name, key: 'CHANNEL_KEY_ID' in variables }).toEqual({ name, key: access !== undefined });
    }
    expect(names.filter((n) => 'channelSecrets' in functions[n])).toContain('admin');
  });

  it('SNS: only the functions that notify on-call may publish, to the on-call topic alone, which they are told', () => {
    const topicArn = render(bedrock.stack.resolve(bedrock.stack.monitoring.topic.topicArn));
    for (const name of names) {
      const notifies = (functions[name] as { notifiesOnCall?: boolean }).notifiesOnCall === true;
      expect({ name, sns: grants(bedrock, name, 'sns:') }).toEqual({
        name,
        sns: notifies ? { 'sns:Publish': [topicArn] } : {},
      });
      expect({ name, topic: env(bedrock, name).ONCALL_TOPIC_ARN }).toEqual({
        name,
        topic: notifies ? { Ref: logicalId(bedrock.stack, bedrock.stack.monitoring.topic) } : undefined,
      });
    }
    expect(names.filter((n) => (functions[n] as { notifiesOnCall?: boolean }).notifiesOnCall)).toEqual([
      'chat',
      'chat-stream',
      'reply',
    ]);
  });

  it('SQS: each function sends to its sendsTo queues and consumes only its own queue', () => {
    const queueIds = Object.fromEntries(
      (Object.keys(queues) as (keyof typeof queues)[]).map((q) => [
        q,
        logicalId(bedrock.stack, bedrock.stack.queues.queues[q]),
      ]),
    );
    for (const name of names) {
      const def = functions[name] as (typeof functions)[FunctionName] & { consumes?: { queue: string } };
      const sqs = grants(bedrock, name, 'sqs:');
      const sendTargets = (sqs['sqs:SendMessage'] ?? []).map((r) => r.replace(/^<(.+)\.Arn>$/, '$1'));
      expect({ name, sendTargets }).toEqual({
        name,
        sendTargets: def.sendsTo.map((q) => queueIds[q]).sort(),
      });
      const received = (sqs['sqs:ReceiveMessage'] ?? []).map((r) => r.replace(/^<(.+)\.Arn>$/, '$1'));
      expect({ name, received }).toEqual({
        name,
        received: def.consumes ? [queueIds[def.consumes.queue]] : [],
      });
    }
  });

  it('grants no wildcard actions to any function', () => {
    for (const name of names) {
      const actions = statements(bedrock, name).flatMap((s) => asArray(s.Action));
      expect({ name, wildcards: actions.filter((a) => a === '*' || a.endsWith(':*')) }).toEqual({
        name,
        wildcards: [],
      });
    }
  });
});

describe('bundling options', () => {
  const options = esbuildOptions('functions/chat/handler.ts', 'out', 'tsconfig.json');

  it('keeps the local-only packages out of every bundle', () => {
    expect(options.external).toEqual([...LOCAL_ONLY_MODULES]);
    expect(LOCAL_ONLY_MODULES).toEqual([
      '@lancedb/lancedb',
      'apache-arrow',
      '@energetic-ai/*',
      '@tensorflow/*',
    ]);
  });

  it('splits ESM bundles into index.mjs and chunks beside it, the handler index.handler', () => {
    expect(options).toMatchObject({
      format: 'esm',
      splitting: true,
      outdir: 'out',
      entryNames: 'index',
      chunkNames: '[name]-[hash]',
      outExtension: { '.js': '.mjs' },
    });
    expect(FUNCTION_HANDLER).toBe(`${BUNDLE_FILE.replace(/\.mjs$/, '')}.handler`);
    for (const name of names) expect(lambda(bedrock, name).Properties?.Handler).toBe(FUNCTION_HANDLER);
  });

  it('copies pdf.js’s standard fonts and CMaps into the ingest asset only', () => {
    expect(bundleExtras('ingest')).toBe(PDFJS_EXTRAS);
    for (const name of names.filter((n) => n !== 'ingest')) expect(bundleExtras(name).files).toEqual([]);
    for (const file of PDFJS_EXTRAS.files) expect(existsSync(join(REPO_ROOT, file.from))).toBe(true);
  });
});

describe('reserved concurrency', () => {
  it('is off by default, and reserved per function when configured', () => {
    for (const name of names)
      expect(lambda(bedrock, name).Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    const reserved = build({ reservedConcurrency: { chat: 50, webhooks: 10 } });
    expect(lambda(reserved, 'chat').Properties?.ReservedConcurrentExecutions).toBe(50);
    expect(lambda(reserved, 'webhooks').Properties?.ReservedConcurrentExecutions).toBe(10);
    expect(lambda(reserved, 'reply').Properties).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it('refuses functions that do not exist', () => {
    expect(() => build({ reservedConcurrency: { nope: 5 } as never })).toThrow(/reservedConcurrency/);
  });
});
