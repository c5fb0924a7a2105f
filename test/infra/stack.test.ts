import { Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { NOTIFICATIONS_HANDLER_ID, OBJECT_KEY_PREFIXES } from '../../lib/constructs/data.ts';
import type { ParleyStack } from '../../lib/parley-stack.ts';
import { gatewayResponses } from '../../shared/gateway-responses.ts';
import {
  API_BINARY_MEDIA_TYPES,
  functions,
  metricNames,
  metricsNamespace,
  type QueueName,
  queueName,
  queues,
  TTL_ATTRIBUTE,
  tables,
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

let stack: ParleyStack;
let template: Template;
/** Every config toggle switched on. */
let toggled: { stack: ParleyStack; template: Template };

beforeAll(() => {
  ({ stack, template } = build());
  toggled = build({
    stage: 'prod',
    alarmEmail: 'oncall@example.com',
    publicBaseUrl: 'https://chat.example.com',
    logRetentionDays: 90,
    openSearch: { instanceCount: 2, zoneAwareness: true, dedicatedMasterCount: 3 },
    apiThrottle: { rateLimit: 50, burstLimit: 75 },
  });
});

describe('functions', () => {
  it('runs every function of the definitions on nodejs24.x, arm64, with active tracing', () => {
    const lambdas = template.findResources('AWS::Lambda::Function');
    for (const name of Object.keys(functions) as (keyof typeof functions)[]) {
      const fn = lambdas[logicalId(stack, stack.functions.functions[name])];
      expect(fn?.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: functions[name].memoryMb,
        Timeout: functions[name].timeoutSeconds,
        TracingConfig: { Mode: 'Active' },
      });
    }
  });

  it('has no Lambda function besides ours except CDK’s bucket-notifications and web-deployment handlers', () => {
    const ours = new Set(Object.values(stack.functions.functions).map((fn) => logicalId(stack, fn)));
    const others = Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => !ours.has(id));
    expect(others).toHaveLength(2);
    expect(others.filter((id) => new RegExp(`^${NOTIFICATIONS_HANDLER_ID}`).test(id))).toHaveLength(1);
    expect(others.filter((id) => /^CustomCDKBucketDeployment/.test(id))).toHaveLength(1);
  });

  it('gives the admin function its tables, the operator key and the common settings', () => {
    const admin =
      template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.functions.functions.admin)];
    const env =
      (admin?.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
      {};
    expect(env).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'parley',
      LOG_LEVEL: 'INFO',
      STAGE: 'dev',
      NODE_OPTIONS: '--enable-source-maps',
      OPERATOR_KEY_SECRET_ARN: { Ref: logicalId(stack, stack.secrets.operatorKey) },
    });
    for (const table of functions.admin.tables) {
      expect(env[tables[table].envVar]).toEqual({ Ref: logicalId(stack, stack.data.tables[table]) });
    }
    expect(env).not.toHaveProperty('PUBLIC_BASE_URL');
  });

  it('keeps the admin role to least privilege: its tables only, S3 deletes only under tenants/', () => {
    const roleId = logicalId(stack, stack.functions.functions.admin.role as never);
    const statements = roleStatements(template, roleId);
    expect(statements.length).toBeGreaterThan(0);
    const actions = statements.flatMap((s) => asArray(s.Action));
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual(['s3:DeleteObject']);
    const s3Resources = statements
      .filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')))
      .flatMap((s) => asArray(s.Resource).map(render));
    expect(s3Resources).toEqual([`<${logicalId(stack, stack.data.buckets.documents)}.Arn>/tenants/*`]);
    expect(actions.some((a) => a === '*' || a.endsWith(':*'))).toBe(false);

    const allowedTables = new Set(functions.admin.tables.map((t) => logicalId(stack, stack.data.tables[t])));
    const allTables = Object.keys(template.findResources('AWS::DynamoDB::Table'));
    for (const statement of statements.filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('dynamodb:')),
    )) {
      for (const resource of asArray(statement.Resource)) {
        const referenced = allTables.filter((id) => JSON.stringify(resource).includes(`"${id}"`));
        expect(referenced).toHaveLength(1);
        expect(allowedTables.has(referenced[0] as string)).toBe(true);
      }
    }
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  });

  it('writes each function’s logs to its own log group with the configured retention', () => {
    const admin =
      template.findResources('AWS::Lambda::Function')[logicalId(stack, stack.functions.functions.admin)];
    const logGroupId = (admin?.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)
      ?.LogGroup?.Ref;
    expect(template.findResources('AWS::Logs::LogGroup')[logGroupId ?? '']?.Properties).toMatchObject({
      RetentionInDays: 30,
    });
    const role =
      template.findResources('AWS::IAM::Role')[
        logicalId(stack, stack.functions.functions.admin.role as never)
      ];
    expect(role?.Properties).not.toHaveProperty('ManagedPolicyArns');
  });
});

describe('tables', () => {
  it.each(Object.keys(tables) as (keyof typeof tables)[])(
    '%s: on-demand, PITR, encrypted, TTL on expiresAt, keys from the definitions, retained',
    (name) => {
      const resource =
        template.findResources('AWS::DynamoDB::Table')[logicalId(stack, stack.data.tables[name])];
      const def = tables[name];
      expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(resource?.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        KeySchema: [
          { AttributeName: def.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: def.sortKey.name, KeyType: 'RANGE' },
        ],
      });
      const indexes = (resource?.Properties?.GlobalSecondaryIndexes ?? []) as { IndexName: string }[];
      expect(indexes.map((i) => i.IndexName)).toEqual(def.globalIndexes.map((i) => i.name));
    },
  );
});

describe('documents bucket', () => {
  it('blocks public access, is versioned, encrypted, logged and allows browser POST uploads', () => {
    const buckets = template.findResources('AWS::S3::Bucket');
    const documents = buckets[logicalId(stack, stack.data.buckets.documents)];
    expect(documents?.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: logicalId(stack, stack.data.accessLogsBucket) } },
      CorsConfiguration: { CorsRules: [{ AllowedMethods: ['POST'], AllowedOrigins: ['*'] }] },
    });
  });

  it('has a bucket policy that denies requests without TLS', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack, stack.data.buckets.documents) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('sends ObjectCreated notifications for keys under tenants/ to the ingest queue', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: logicalId(stack, stack.data.buckets.documents) },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            QueueArn: { 'Fn::GetAtt': [logicalId(stack, stack.queues.queues.ingest), 'Arn'] },
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'tenants/' }] } },
          },
        ],
      },
    });
    expect(OBJECT_KEY_PREFIXES.documents).toBe('tenants/');
  });

  it('lets S3 (this bucket, this account) send to the ingest queue', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack, stack.queues.queues.ingest) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: {
              ArnLike: {
                'aws:SourceArn': { 'Fn::GetAtt': [logicalId(stack, stack.data.buckets.documents), 'Arn'] },
              },
            },
          }),
        ]),
      },
    });
  });
});

describe('queues', () => {
  it.each(Object.keys(queues) as QueueName[])('%s: redrive to its DLQ, timeouts, encryption', (name) => {
    const def = queues[name];
    const dlqId = logicalId(stack, stack.queues.deadLetterQueues[name]);
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName('parley-dev', name, queues[name]),
      VisibilityTimeout: def.visibilityTimeoutSeconds,
      MessageRetentionPeriod: def.retentionDays * 86_400,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
        maxReceiveCount: def.maxReceiveCount,
      },
      SqsManagedSseEnabled: true,
      ...(def.fifo ? { FifoQueue: true, ContentBasedDeduplication: false } : {}),
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName('parley-dev', name, queues[name], true),
      MessageRetentionPeriod: 14 * 86_400,
      ...(def.fifo ? { FifoQueue: true } : {}),
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: logicalId(stack, stack.queues.queues[name]) }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('search domain', () => {
  it('encrypts at rest and between nodes, enforces HTTPS with TLS 1.2+, and publishes logs', () => {
    template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      EncryptionAtRestOptions: { Enabled: true },
      NodeToNodeEncryptionOptions: { Enabled: true },
      DomainEndpointOptions: { EnforceHTTPS: true, TLSSecurityPolicy: Match.stringLikeRegexp('TLS-1-2') },
      EngineVersion: 'OpenSearch_3.7',
      ClusterConfig: { InstanceType: 't3.small.search', InstanceCount: 1, ZoneAwarenessEnabled: false },
      LogPublishingOptions: {
        SEARCH_SLOW_LOGS: Match.objectLike({ Enabled: true }),
        INDEX_SLOW_LOGS: Match.objectLike({ Enabled: true }),
        ES_APPLICATION_LOGS: Match.objectLike({ Enabled: true }),
      },
    });
  });

  it('names exactly the roles of the functions with search access in its resource policy', () => {
    const domain = Object.values(template.findResources('AWS::OpenSearchService::Domain'))[0] as Resource;
    const statements =
      (domain.Properties?.AccessPolicies as { Statement?: Statement[] } | undefined)?.Statement ?? [];
    const principals = new Set(statements.map((s) => render((s.Principal as { AWS: unknown }).AWS)));
    const roleArn = (name: 'admin' | 'chat' | 'chat-stream' | 'embed' | 'evaluate' | 'reply') =>
      `<${logicalId(stack, stack.functions.functions[name].role as never)}.Arn>`;
    expect([...principals].sort()).toEqual(
      [
        roleArn('admin'),
        roleArn('chat'),
        roleArn('chat-stream'),
        roleArn('embed'),
        roleArn('evaluate'),
        roleArn('reply'),
      ].sort(),
    );
    expect(statements.every((s) => s.Effect === 'Allow')).toBe(true);
  });
});

describe('API', () => {
  it('is a REGIONAL REST API with a stage named by the config, access logs, tracing and throttling', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
      BinaryMediaTypes: [...API_BINARY_MEDIA_TYPES],
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'dev',
      TracingEnabled: true,
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          ThrottlingRateLimit: 100,
          ThrottlingBurstLimit: 200,
        }),
      ]),
    });
  });

  it.each(gatewayResponses.map((r) => [r.type, r] as const))(
    'maps the %s gateway response to the error envelope',
    (type, response) => {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        StatusCode: response.statusCode === undefined ? Match.absent() : String(response.statusCode),
        ResponseTemplates: {
          'application/json': Match.stringLikeRegexp(
            `^\\{"error":\\{"code":"${response.code}","message":.+,"requestId":"\\$context\\.requestId"\\}\\}$`,
          ),
        },
      });
    },
  );

  it('answers unknown routes with 404 not_found, big bodies with 413 and throttling with 429', () => {
    const byType = Object.fromEntries(gatewayResponses.map((r) => [r.type, r]));
    expect(byType.MISSING_AUTHENTICATION_TOKEN).toMatchObject({ statusCode: 404, code: 'not_found' });
    expect(byType.REQUEST_TOO_LARGE).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
    expect(byType.THROTTLED).toMatchObject({ statusCode: 429, code: 'rate_limited' });
    expect(byType.UNSUPPORTED_MEDIA_TYPE).toMatchObject({ statusCode: 415, code: 'unsupported_media_type' });
    expect(byType.DEFAULT_5XX).toMatchObject({ code: 'internal' });
  });
});

describe('operator key, alarms and outputs', () => {
  it('generates a 48-character operator key without punctuation and outputs its ARN', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true, IncludeSpace: false },
    });
    template.hasOutput('OperatorKeySecretArn', {
      Value: { Ref: logicalId(stack, stack.secrets.operatorKey) },
    });
  });

  it('seals channel credentials with a rotating customer key kept when the stack goes', () => {
    const key = template.findResources('AWS::KMS::Key')[logicalId(stack, stack.secrets.channelKey)];
    expect(key).toMatchObject({
      Properties: { EnableKeyRotation: true, Description: expect.stringMatching(/channel credentials/) },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('outputs the API URL, the documents bucket and the on-call topic', () => {
    template.hasOutput('ApiUrl', { Value: Match.anyValue() });
    template.hasOutput('DocumentsBucketName', {
      Value: { Ref: logicalId(stack, stack.data.buckets.documents) },
    });
    template.hasOutput('OnCallTopicArn', { Value: { Ref: logicalId(stack, stack.monitoring.topic) } });
  });

  it('encrypts the on-call topic with a rotating customer key that CloudWatch may use', () => {
    const keyId = logicalId(stack, stack.monitoring.topic.masterKey as never);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('alarms on every function’s errors, every DLQ’s depth and API 5XX, notifying the topic', () => {
    const topic = { Ref: logicalId(stack, stack.monitoring.topic) };
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    const notifying = alarms.filter(
      (a) => JSON.stringify(a.Properties?.AlarmActions) === JSON.stringify([topic]),
    );
    expect(notifying).toHaveLength(alarms.length);
    const metrics = alarms.map((a) => `${a.Properties?.Namespace}/${a.Properties?.MetricName}`);
    expect(metrics.filter((m) => m === 'AWS/Lambda/Errors')).toHaveLength(Object.keys(functions).length);
    expect(metrics.filter((m) => m === 'AWS/SQS/ApproximateNumberOfMessagesVisible')).toHaveLength(
      Object.keys(queues).length,
    );
    expect(metrics).toContain('AWS/ApiGateway/5XXError');
  });

  it('alarms on an unconfirmed channel reply, the metric the reply function counts', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: metricsNamespace(stack.config.stage),
      MetricName: metricNames.unconfirmedReplies,
      Dimensions: [{ Name: 'service', Value: 'parley' }],
      Statistic: 'Sum',
      Threshold: 1,
    });
  });
});

describe('config toggles', () => {
  it('stage names the stack, the API stage and the queues', () => {
    expect(toggled.stack.stackName).toBe('Parley-prod');
    toggled.template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'prod' });
    toggled.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: queueName('parley-prod', 'ingest', queues.ingest),
    });
  });

  it('alarmEmail adds an email subscription to the on-call topic', () => {
    toggled.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: logicalId(toggled.stack, toggled.stack.monitoring.topic) },
    });
  });

  it('zoneAwareness and dedicated masters appear in the domain config', () => {
    toggled.template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: {
        InstanceCount: 2,
        ZoneAwarenessEnabled: true,
        ZoneAwarenessConfig: { AvailabilityZoneCount: 2 },
        DedicatedMasterEnabled: true,
        DedicatedMasterCount: 3,
        DedicatedMasterType: 'm7g.large.search',
      },
    });
    template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: Match.objectLike({ DedicatedMasterEnabled: false, ZoneAwarenessEnabled: false }),
    });
  });

  it('publicBaseUrl reaches the functions’ environment', () => {
    const admin =
      toggled.template.findResources('AWS::Lambda::Function')[
        logicalId(toggled.stack, toggled.stack.functions.functions.admin)
      ];
    expect(admin?.Properties?.Environment).toMatchObject({
      Variables: { PUBLIC_BASE_URL: 'https://chat.example.com', STAGE: 'prod' },
    });
  });

  it('logRetentionDays and apiThrottle reach the log groups and the stage', () => {
    const groups = Object.values(toggled.template.findResources('AWS::Logs::LogGroup')) as Resource[];
    expect(groups.length).toBeGreaterThan(0);
    expect(groups.every((g) => g.Properties?.RetentionInDays === 90)).toBe(true);
    toggled.template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        Match.objectLike({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 75 }),
      ]),
    });
  });

  it('builds an environment-agnostic stack (no account or region baked in)', () => {
    expect(Stack.of(stack).environment).toBe('aws://unknown-account/unknown-region');
  });
});
