import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type {
  BucketAccess,
  BucketName,
  FunctionDefinition,
  FunctionName,
  QueueName,
  ResourceDefinitions,
  TableDefinition,
  TableName,
} from '../../shared/resources.ts';
import { bundleExtras, FUNCTION_HANDLER, functionCode } from '../bundling.ts';
import type { ParleyConfig } from '../config.ts';
import { OBJECT_KEY_PREFIXES } from './data.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import { entries, pascal } from './names.ts';
import type { Search } from './search.ts';

/** Repository root: function entries in the resource definitions are relative to it. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Environment variable names set on every function besides the per-resource ones. */
export const ENV = {
  serviceName: 'POWERTOOLS_SERVICE_NAME',
  logLevel: 'LOG_LEVEL',
  stage: 'STAGE',
  nodeOptions: 'NODE_OPTIONS',
  publicBaseUrl: 'PUBLIC_BASE_URL',
  operatorKeySecretArn: 'OPERATOR_KEY_SECRET_ARN',
  openSearchEndpoint: 'OPENSEARCH_ENDPOINT',
  defaultChatModelId: 'DEFAULT_CHAT_MODEL_ID',
  models: 'PARLEY_MODELS',
  /** Functions whose definition lists the `embedding` model: `bedrock` or `openai`. */
  embeddingProvider: 'EMBEDDING_PROVIDER',
  embeddingModelId: 'EMBEDDING_MODEL_ID',
  /** Vector size, as a decimal string. */
  embeddingDimension: 'EMBEDDING_DIMENSION',
  /** Functions whose definition lists the `rerank` model (unless `rerankModelId` is `none`). */
  rerankModelId: 'RERANK_MODEL_ID',
  /** With the openai embedding provider, and for chat when configured: the secret holding the OpenAI API key. */
  openAiApiKeySecretArn: 'OPENAI_API_KEY_SECRET_ARN',
  /** With the OpenAI key and an `openAiBaseUrl`: the OpenAI-compatible server to call. */
  openAiBaseUrl: 'OPENAI_BASE_URL',
  /** Functions with `channelSecrets`: the KMS key (ARN) sealing channel credentials. */
  channelKeyId: 'CHANNEL_KEY_ID',
  /** Functions with `notifiesOnCall`: the on-call topic their events go to. */
  onCallTopicArn: 'ONCALL_TOPIC_ARN',
} as const;

/** Object actions are granted on the bucket's key prefix (`OBJECT_KEY_PREFIXES`), listing with it as condition. */
const BUCKET_ACTIONS: Record<BucketAccess, { actions: string[]; objects: boolean }> = {
  // HeadObject is authorised by s3:GetObject.
  read: { actions: ['s3:GetObject'], objects: true },
  put: { actions: ['s3:PutObject'], objects: true },
  delete: { actions: ['s3:DeleteObject'], objects: true },
  list: { actions: ['s3:ListBucket'], objects: false },
};

/**
 * Item actions, granted per table as the function's definition says: reads on every table it
 * lists, writes only where it is not read-only (transactions need the action of each item they
 * hold). ConditionCheckItem reads: a transaction's condition on an item it does not write.
 */
const TABLE_READ_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
];
const TABLE_WRITE_ACTIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];

/** One table's grant: its items read (and written unless read-only), and Query on exactly the indexes listed. */
function grantTable(
  role: iam.Role,
  table: dynamodb.ITable,
  functionName: FunctionName,
  def: FunctionDefinition,
  tableName: TableName,
  tableDef: TableDefinition,
): void {
  const readOnly = def.readOnlyTables?.includes(tableName) ?? false;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: readOnly ? TABLE_READ_ACTIONS : [...TABLE_READ_ACTIONS, ...TABLE_WRITE_ACTIONS],
      resources: [table.tableArn],
    }),
  );
  const indexes = def.queriesIndexes?.[tableName] ?? [];
  for (const index of indexes) {
    if (!tableDef.globalIndexes.some((declared) => declared.name === index)) {
      throw new Error(
        `Invalid resource definitions: functions.${functionName}.queriesIndexes.${tableName} names ${index}, which tables.${tableName} does not declare`,
      );
    }
  }
  if (indexes.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: indexes.map((index) => `${table.tableArn}/index/${index}`),
      }),
    );
  }
}

/** Its access levels on one bucket, under the bucket's object key prefix only. */
function grantBucket(
  role: iam.Role,
  bucket: s3.IBucket,
  bucketName: BucketName,
  access: readonly BucketAccess[],
): void {
  const prefix = OBJECT_KEY_PREFIXES[bucketName];
  const levels = [...new Set(access)].map((level) => BUCKET_ACTIONS[level]);
  const objectActions = levels.filter((level) => level.objects).flatMap((level) => level.actions);
  const bucketActions = levels.filter((level) => !level.objects).flatMap((level) => level.actions);
  if (objectActions.length > 0) {
    const objects = bucket.arnForObjects(`${prefix}*`);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: objectActions, resources: [objects] }));
    acknowledgeWildcardResource(
      role,
      objects,
      `Object keys are per tenant, bot and document (created at run time), so ${objectActions.join(', ')} on ${bucketName} is granted under the ${prefix} key prefix only.`,
    );
  }
  if (bucketActions.length > 0) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: bucketActions,
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
      }),
    );
  }
}

export interface FunctionsProps {
  readonly config: ParleyConfig;
  readonly resources: ResourceDefinitions;
  readonly tables: Record<TableName, dynamodb.ITable>;
  readonly queues: Record<QueueName, sqs.IQueue>;
  readonly buckets: Record<BucketName, s3.IBucket>;
  readonly search: Search;
  readonly operatorKey: secretsmanager.ISecret;
  readonly channelKey: kms.IKey;
  readonly logRetention: logs.RetentionDays;
}

/**
 * One function per entry in the function definitions, each with its own role holding only
 * what its definition lists: its tables, the queues it sends to or consumes, its bucket access,
 * its vector index access, its models, and the operator key if it serves an operator route.
 * A function with a `schedule` is invoked by an EventBridge rule.
 */
export class Functions extends Construct {
  readonly functions: Record<FunctionName, lambda.Function>;

  private readonly props: FunctionsProps;
  private readonly operatorFunctions: ReadonlySet<FunctionName>;
  /** The OpenAI API key's secret exists outside the stack; it is imported once, if it is used. */
  private openAiSecret: secretsmanager.ISecret | undefined;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    this.props = props;
    this.operatorFunctions = new Set(
      props.resources.routes.filter((route) => route.auth === 'operator').map((route) => route.function),
    );
    const functions: Partial<Record<FunctionName, lambda.Function>> = {};
    for (const [name, def] of entries(props.resources.functions)) functions[name] = this.define(name, def);
    this.functions = functions as Record<FunctionName, lambda.Function>;
  }

  /** One function: its log group, its role with its grants, its environment, its triggers. */
  private define(name: FunctionName, def: FunctionDefinition): lambda.Function {
    const { config } = this.props;
    const id = pascal(name);
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: this.props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = this.roleFor(name, id, logGroup);
    const environment: Record<string, string> = {
      [ENV.serviceName]: 'parley',
      [ENV.logLevel]: 'INFO',
      [ENV.stage]: config.stage,
      [ENV.nodeOptions]: '--enable-source-maps',
      [ENV.defaultChatModelId]: config.defaultChatModelId,
      // Bot validation, pricing and turns all read the allow-list.
      [ENV.models]: JSON.stringify(config.models),
    };
    if (config.publicBaseUrl) environment[ENV.publicBaseUrl] = config.publicBaseUrl;
    this.grantData(name, def, role, environment);
    // Statements on any resource ("*") share one cdk-nag finding per role: its reasons, joined.
    const anyResource = [
      'X-Ray tracing (Tracing.ACTIVE): xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    ];
    this.grantModels(role, def, config, anyResource);
    this.grantSecrets(name, def, role, environment);

    const fn = new lambda.Function(this, id, {
      description: `Parley ${config.stage}: ${name}`,
      code: functionCode(join(REPO_ROOT, def.entry), {
        projectRoot: REPO_ROOT,
        tsconfig: join(REPO_ROOT, 'tsconfig.json'),
        extras: bundleExtras(name),
      }),
      handler: FUNCTION_HANDLER,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: def.memoryMb,
      timeout: Duration.seconds(def.timeoutSeconds),
      reservedConcurrentExecutions: config.reservedConcurrency[name],
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment,
    });
    acknowledgeWildcardResource(role, '*', anyResource.join(' '));
    if (def.consumes) this.consume(name, def, fn);
    if (def.schedule) this.schedule(name, fn, def.schedule.rateMinutes, config.stage);
    return fn;
  }

  /**
   * An own role instead of the default one: the default attaches the AWS-managed
   * AWSLambdaBasicExecutionRole (logs on every log group); this one writes to its own group.
   */
  private roleFor(name: FunctionName, id: string, logGroup: logs.LogGroup): iam.Role {
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Parley ${this.props.config.stage} ${name} function`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    return role;
  }

  /** Its tables, the queues it sends to, its buckets and its vector index. */
  private grantData(
    name: FunctionName,
    def: FunctionDefinition,
    role: iam.Role,
    environment: Record<string, string>,
  ): void {
    const { props } = this;
    for (const tableName of def.tables) {
      const table = props.tables[tableName];
      environment[props.resources.tables[tableName].envVar] = table.tableName;
      grantTable(role, table, name, def, tableName, props.resources.tables[tableName]);
    }
    for (const queueName of def.sendsTo) {
      const queue = props.queues[queueName];
      environment[props.resources.queues[queueName].envVar] = queue.queueUrl;
      queue.grantSendMessages(role);
    }
    for (const [bucketName, access] of entries(def.buckets ?? {})) {
      if (!access || access.length === 0) continue;
      const bucket = props.buckets[bucketName];
      environment[props.resources.buckets[bucketName].envVar] = bucket.bucketName;
      grantBucket(role, bucket, bucketName, access);
    }
    if (def.search) {
      props.search.grant(role, def.search);
      environment[ENV.openSearchEndpoint] = props.search.endpointUrl;
    }
  }

  /** The models' settings, the OpenAI key, the channel key and the operator key, as it needs them. */
  private grantSecrets(
    name: FunctionName,
    def: FunctionDefinition,
    role: iam.Role,
    environment: Record<string, string>,
  ): void {
    const { config, channelKey, operatorKey } = this.props;
    if (def.models?.includes('rerank') && config.rerankModelId) {
      environment[ENV.rerankModelId] = config.rerankModelId;
    }
    if (def.models?.includes('embedding')) {
      environment[ENV.embeddingProvider] = config.embeddingProvider;
      environment[ENV.embeddingModelId] = config.embeddingModelId;
      environment[ENV.embeddingDimension] = String(config.embeddingDimension);
    }
    // Embedding with openai needs the key (the config requires it then); chat uses it when
    // configured, for the bots whose model provider is openai.
    const usesOpenAi =
      (def.models?.includes('embedding') && config.embeddingProvider === 'openai') ||
      def.models?.includes('chat');
    if (usesOpenAi && config.openAiSecretArn) {
      this.openAiSecret ??= secretsmanager.Secret.fromSecretCompleteArn(
        this,
        'OpenAiApiKey',
        config.openAiSecretArn,
      );
      this.openAiSecret.grantRead(role);
      environment[ENV.openAiApiKeySecretArn] = this.openAiSecret.secretArn;
      if (config.openAiBaseUrl) environment[ENV.openAiBaseUrl] = config.openAiBaseUrl;
    }
    if (def.channelSecrets) {
      // Sealing asks KMS for a data key; opening (and a sealer's disconnect) decrypts one.
      if (def.channelSecrets === 'seal') channelKey.grant(role, 'kms:GenerateDataKey', 'kms:Decrypt');
      else channelKey.grantDecrypt(role);
      environment[ENV.channelKeyId] = channelKey.keyArn;
    }
    if (this.operatorFunctions.has(name)) {
      operatorKey.grantRead(role);
      environment[ENV.operatorKeySecretArn] = operatorKey.secretArn;
    }
  }

  /** Its queue's messages, with partial batch failures; the queue must outlast the function. */
  private consume(name: FunctionName, def: FunctionDefinition, fn: lambda.Function): void {
    const consumes = def.consumes;
    if (!consumes) return;
    const queueDef = this.props.resources.queues[consumes.queue];
    if (queueDef.visibilityTimeoutSeconds < def.timeoutSeconds) {
      throw new Error(
        `Invalid resource definitions: queues.${consumes.queue}.visibilityTimeoutSeconds (${queueDef.visibilityTimeoutSeconds}) must be at least functions.${name}.timeoutSeconds (${def.timeoutSeconds})`,
      );
    }
    fn.addEventSource(
      new SqsEventSource(this.props.queues[consumes.queue], {
        batchSize: consumes.batchSize,
        maxConcurrency: consumes.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }

  /**
   * Lets the functions whose definition says `notifiesOnCall` publish to the on-call topic (made by
   * the monitoring construct, which needs the functions first for its alarms).
   */
  notifyOnCall(topic: sns.ITopic, definitions: ResourceDefinitions['functions']): void {
    for (const [name, fn] of entries(this.functions)) {
      if (!definitions[name].notifiesOnCall) continue;
      // Not topic.grantPublish: it grants kms:GenerateDataKey* where publishing to an encrypted
      // topic needs exactly a data key and Decrypt on the topic's key.
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [topic.topicArn] }));
      if (topic.masterKey) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: [topic.masterKey.keyArn],
          }),
        );
      }
      fn.addEnvironment(ENV.onCallTopicArn, topic.topicArn);
    }
  }

  /**
   * Invokes `fn` every `rateMinutes` through an EventBridge rule. Delivery is retried only until
   * the next run is due, and a run that fails is not retried: the next run does the same work
   * (its errors alarm like any function's).
   */
  private schedule(name: FunctionName, fn: lambda.Function, rateMinutes: number, stage: string): void {
    if (!Number.isInteger(rateMinutes) || rateMinutes < 1) {
      throw new Error(
        `Invalid resource definitions: functions.${name}.schedule.rateMinutes (${rateMinutes}) must be a whole number of minutes, at least 1`,
      );
    }
    const rate = Duration.minutes(rateMinutes);
    fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: rate });
    new events.Rule(this, `${pascal(name)}Schedule`, {
      description: `Parley ${stage}: runs ${name} every ${rateMinutes} minute${rateMinutes === 1 ? '' : 's'}`,
      schedule: events.Schedule.rate(rate),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 2, maxEventAge: rate })],
    });
  }

  /** `anyResource` collects the reasons for grants that must name every resource ("*"). */
  private grantModels(
    role: iam.Role,
    def: FunctionDefinition,
    config: ParleyConfig,
    anyResource: string[],
  ): void {
    const stack = Stack.of(this);
    const models = new Set(def.models ?? []);
    /** One foundation model's ARN in this region (foundation models have no account). */
    const foundationModel = (modelId: string) =>
      stack.formatArn({
        service: 'bedrock',
        account: '',
        resource: 'foundation-model',
        resourceName: modelId,
      });
    // With the openai provider the embedding functions call OpenAI instead (their API key's secret
    // is granted with their environment); with bedrock, exactly the one embedding model.
    if (models.has('embedding') && config.embeddingProvider === 'bedrock') {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['bedrock:InvokeModel'],
          resources: [foundationModel(config.embeddingModelId)],
        }),
      );
    }
    if (models.has('chat')) {
      // Only the allow-list's Bedrock models: each key allows its dated and versioned ids (`key*`)
      // in any region, since cross-region inference profiles (`us.key…`, this account's) route to
      // foundation models in other regions.
      const keys = config.models.filter((entry) => entry.provider === 'bedrock').map((entry) => entry.id);
      const resources = keys.flatMap((key) => [
        stack.formatArn({
          service: 'bedrock',
          region: '*',
          account: '',
          resource: 'foundation-model',
          resourceName: `${key}*`,
        }),
        stack.formatArn({
          service: 'bedrock',
          region: '*',
          resource: 'inference-profile',
          resourceName: `*.${key}*`,
        }),
      ]);
      if (resources.length > 0) {
        role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            actions: ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'],
            resources,
          }),
        );
        for (const resource of resources) {
          acknowledgeWildcardResource(
            role,
            resource,
            'The allow-listed Bedrock chat model family (its dated and versioned ids, and its cross-region inference profiles); invocation only, no management actions.',
          );
        }
      }
    }
    if (models.has('rerank') && config.rerankModelId) {
      // The Rerank API authorises two actions: bedrock:Rerank, which has no resource-level
      // permissions, and bedrock:InvokeModel on the reranking model (Bedrock user guide,
      // "Permissions for reranking"); the latter is what pins the one model.
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['bedrock:Rerank'], resources: ['*'] }));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['bedrock:InvokeModel'],
          resources: [foundationModel(config.rerankModelId)],
        }),
      );
      anyResource.push(
        'bedrock:Rerank supports no resource-level permissions (Resource "*" is required); the reranking model itself is pinned by bedrock:InvokeModel on its one foundation-model ARN, which Rerank also requires.',
      );
    }
  }
}
