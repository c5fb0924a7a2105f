import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type {
  BucketAccess,
  BucketName,
  FunctionDefinition,
  FunctionName,
  QueueName,
  ResourceDefinitions,
  TableName,
} from '../../shared/resources.ts';
import { nodejsBundling } from '../bundling.ts';
import type { ParleyConfig } from '../config.ts';
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
  embeddingModelId: 'EMBEDDING_MODEL_ID',
  defaultChatModelId: 'DEFAULT_CHAT_MODEL_ID',
} as const;

const BUCKET_ACTIONS: Record<BucketAccess, { actions: string[]; objects: boolean }> = {
  read: { actions: ['s3:GetObject'], objects: true },
  put: { actions: ['s3:PutObject'], objects: true },
  delete: { actions: ['s3:DeleteObject'], objects: true },
  list: { actions: ['s3:ListBucket'], objects: false },
};

export interface FunctionsProps {
  readonly config: ParleyConfig;
  readonly resources: ResourceDefinitions;
  readonly tables: Record<TableName, dynamodb.ITable>;
  readonly queues: Record<QueueName, sqs.IQueue>;
  readonly buckets: Record<BucketName, s3.IBucket>;
  readonly search: Search;
  readonly operatorKey: secretsmanager.ISecret;
  readonly logRetention: logs.RetentionDays;
}

/**
 * One `NodejsFunction` per entry in the function definitions, each with its own role holding only
 * what its definition lists: its tables, the queues it sends to or consumes, its bucket access,
 * its vector index access, its models, and the operator key if it serves an operator route.
 */
export class Functions extends Construct {
  readonly functions: Record<FunctionName, NodejsFunction>;

  constructor(scope: Construct, id: string, props: FunctionsProps) {
    super(scope, id);
    const { config, resources } = props;
    const functions: Partial<Record<FunctionName, NodejsFunction>> = {};

    const operatorFunctions = new Set(
      resources.routes.filter((route) => route.auth === 'operator').map((route) => route.function),
    );

    for (const [name, def] of entries(resources.functions)) {
      const id = pascal(name);
      const logGroup = new logs.LogGroup(this, `${id}Logs`, {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // An own role instead of the default one: the default attaches the AWS-managed
      // AWSLambdaBasicExecutionRole (logs on every log group); this one writes to its own group.
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Parley ${config.stage} ${name} function`,
      });
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );

      const environment: Record<string, string> = {
        [ENV.serviceName]: 'parley',
        [ENV.logLevel]: 'INFO',
        [ENV.stage]: config.stage,
        [ENV.nodeOptions]: '--enable-source-maps',
        [ENV.embeddingModelId]: config.embeddingModelId,
        [ENV.defaultChatModelId]: config.defaultChatModelId,
      };
      if (config.publicBaseUrl) environment[ENV.publicBaseUrl] = config.publicBaseUrl;

      for (const tableName of def.tables) {
        const table = props.tables[tableName];
        environment[resources.tables[tableName].envVar] = table.tableName;
        table.grantReadWriteData(role);
        if (resources.tables[tableName].globalIndexes.length > 0) {
          acknowledgeWildcardResource(
            role,
            `${table.tableArn}/index/*`,
            `Queries on the ${tableName} table's global secondary indexes: grantReadWriteData covers <table>/index/* for this one table only.`,
          );
        }
      }
      for (const queueName of def.sendsTo) {
        const queue = props.queues[queueName];
        environment[resources.queues[queueName].envVar] = queue.queueUrl;
        queue.grantSendMessages(role);
      }
      for (const [bucketName, access] of entries(def.buckets ?? {})) {
        if (!access || access.length === 0) continue;
        const bucket = props.buckets[bucketName];
        environment[resources.buckets[bucketName].envVar] = bucket.bucketName;
        for (const level of new Set(access)) {
          const { actions, objects } = BUCKET_ACTIONS[level];
          const resource = objects ? bucket.arnForObjects('*') : bucket.bucketArn;
          role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [resource] }));
          if (objects) {
            acknowledgeWildcardResource(
              role,
              resource,
              `Object keys are per tenant, bot and document (created at run time), so ${bucketName} object access is granted on the bucket's keys.`,
            );
          }
        }
      }
      if (def.search) {
        props.search.grant(role, def.search);
        environment[ENV.openSearchEndpoint] = props.search.endpointUrl;
      }
      this.grantModels(role, def, config);
      if (operatorFunctions.has(name)) {
        props.operatorKey.grantRead(role);
        environment[ENV.operatorKeySecretArn] = props.operatorKey.secretArn;
      }

      const fn = new NodejsFunction(this, id, {
        description: `Parley ${config.stage}: ${name}`,
        entry: join(REPO_ROOT, def.entry),
        handler: 'handler',
        projectRoot: REPO_ROOT,
        depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: def.memoryMb,
        timeout: Duration.seconds(def.timeoutSeconds),
        tracing: lambda.Tracing.ACTIVE,
        role,
        logGroup,
        loggingFormat: lambda.LoggingFormat.JSON,
        environment,
        bundling: nodejsBundling(join(REPO_ROOT, 'tsconfig.json')),
      });
      acknowledgeWildcardResource(
        role,
        '*',
        'X-Ray tracing (Tracing.ACTIVE): xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
      );

      if (def.consumes) {
        const queueDef = resources.queues[def.consumes.queue];
        if (queueDef.visibilityTimeoutSeconds < def.timeoutSeconds) {
          throw new Error(
            `Invalid resource definitions: queues.${def.consumes.queue}.visibilityTimeoutSeconds (${queueDef.visibilityTimeoutSeconds}) must be at least functions.${name}.timeoutSeconds (${def.timeoutSeconds})`,
          );
        }
        fn.addEventSource(
          new SqsEventSource(props.queues[def.consumes.queue], {
            batchSize: def.consumes.batchSize,
            maxConcurrency: def.consumes.maxConcurrency,
            reportBatchItemFailures: true,
          }),
        );
      }
      functions[name] = fn;
    }
    this.functions = functions as Record<FunctionName, NodejsFunction>;
  }

  private grantModels(role: iam.Role, def: FunctionDefinition, config: ParleyConfig): void {
    const stack = Stack.of(this);
    const models = new Set(def.models ?? []);
    if (models.has('embedding')) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['bedrock:InvokeModel'],
          resources: [
            stack.formatArn({
              service: 'bedrock',
              account: '',
              resource: 'foundation-model',
              resourceName: config.embeddingModelId,
            }),
          ],
        }),
      );
    }
    if (models.has('chat')) {
      // Bots choose their model, and cross-region inference profiles route to foundation models in
      // other regions, so any foundation model and this account's inference profiles are allowed.
      const resources = [
        stack.formatArn({
          service: 'bedrock',
          region: '*',
          account: '',
          resource: 'foundation-model',
          resourceName: '*',
        }),
        stack.formatArn({ service: 'bedrock', resource: 'inference-profile', resourceName: '*' }),
      ];
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
          'Each bot picks its Bedrock chat model at run time (any model, possibly through a cross-region inference profile); invocation only, no management actions.',
        );
      }
    }
  }
}
