// Creates (or brings up to date) every table, queue and bucket of the resource definitions in the
// emulators. Idempotent: a restart keeps the data, and a definition changed since the last start
// (a new index, another visibility timeout) is applied the way a CDK deployment would apply it.

import {
  type AttributeDefinition,
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndexDescription,
  type KeySchemaElement,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  type KeyDefinition,
  type QueueDefinition,
  queueName,
  resources,
  type TableDefinition,
} from '../shared/resources.ts';
import { type LocalClients, localQueueArn, localQueueUrl } from './aws.ts';
import { createLogger, type Logger } from './log.ts';
import { sendS3TestEvent } from './s3-events.ts';

/** What provisioning reads; `ResourceDefinitions` (shared/resources.ts) is one. */
export interface ProvisionDefinitions {
  readonly tables: Readonly<Record<string, TableDefinition>>;
  readonly queues: Readonly<Record<string, QueueDefinition>>;
  readonly buckets: Readonly<Record<string, { readonly envVar: string; readonly notifyQueue?: string }>>;
}

export interface ProvisionOptions {
  readonly clients: LocalClients;
  /** fauxqs's endpoint; queue URLs are built on it (see localQueueUrl). */
  readonly sqsEndpoint: string;
  readonly definitions?: ProvisionDefinitions;
  /** Resource names are `<prefix>-<name>`. */
  readonly prefix?: string;
  readonly logger?: Logger;
}

export interface ProvisionedTable {
  readonly name: string;
  readonly envVar: string;
}

export interface ProvisionedQueue {
  readonly name: string;
  readonly envVar: string;
  readonly url: string;
  readonly arn: string;
  readonly fifo: boolean;
  readonly deadLetter: { readonly name: string; readonly url: string; readonly arn: string };
}

export interface ProvisionedBucket {
  readonly name: string;
  readonly envVar: string;
  readonly notifyQueue?: string;
  /** True when this run created the bucket (and sent S3's test event to its queue). */
  readonly created: boolean;
}

export interface Provisioned {
  readonly tables: Readonly<Record<string, ProvisionedTable>>;
  readonly queues: Readonly<Record<string, ProvisionedQueue>>;
  readonly buckets: Readonly<Record<string, ProvisionedBucket>>;
  /**
   * The on-call topic (the stack's is made by its monitoring construct): quota warnings go there.
   * Nobody subscribes locally; subscribe a queue to it to watch them.
   */
  readonly onCallTopicArn: string;
}

export const DEFAULT_PREFIX = 'parley';
/** What the CDK stack gives dead-letter queues: the longest retention SQS allows. */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60;

export const localTableName = (prefix: string, name: string) => `${prefix}-${name}`;
export const localBucketName = (prefix: string, name: string) => `${prefix}-${name}`;

export async function provision(options: ProvisionOptions): Promise<Provisioned> {
  const definitions = options.definitions ?? resources;
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const logger = options.logger ?? createLogger({ level: 'SILENT' });
  const { dynamodb, sqs, s3, sns } = options.clients;

  const tables: Record<string, ProvisionedTable> = {};
  const queues: Record<string, ProvisionedQueue> = {};
  const buckets: Record<string, ProvisionedBucket> = {};

  await Promise.all([
    ...Object.entries(definitions.tables).map(async ([name, definition]) => {
      const tableName = localTableName(prefix, name);
      await ensureTable(dynamodb, tableName, definition, logger);
      tables[name] = { name: tableName, envVar: definition.envVar };
    }),
    ...Object.entries(definitions.queues).map(async ([name, definition]) => {
      queues[name] = await ensureQueueWithDeadLetter(
        sqs,
        options.sqsEndpoint,
        prefix,
        name,
        definition,
        logger,
      );
    }),
  ]);

  // Buckets last: S3's test event goes to the notification queue, which must exist by then.
  for (const [name, definition] of Object.entries(definitions.buckets)) {
    const bucketName = localBucketName(prefix, name);
    const created = await ensureBucket(s3, bucketName, logger);
    const notifyQueue = definition.notifyQueue;
    if (notifyQueue !== undefined && !queues[notifyQueue]) {
      throw new Error(`Bucket ${name} notifies queue ${notifyQueue}, which the definitions do not declare`);
    }
    const target = notifyQueue === undefined ? undefined : queues[notifyQueue];
    if (created && target) {
      // S3 sends this once, when a notification configuration is first put on the bucket.
      await sendS3TestEvent(sqs, target.url, bucketName);
    }
    buckets[name] = { name: bucketName, envVar: definition.envVar, notifyQueue, created };
  }

  // CreateTopic is idempotent: the same ARN on every start.
  const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: `${prefix}-oncall` }));
  if (!TopicArn) throw new Error('The local SNS (fauxqs) created the on-call topic without an ARN');
  return { tables, queues, buckets, onCallTopicArn: TopicArn };
}

// ---------------------------------------------------------------------------------------------
// DynamoDB

function keySchema(partitionKey: KeyDefinition, sortKey: KeyDefinition): KeySchemaElement[] {
  return [
    { AttributeName: partitionKey.name, KeyType: 'HASH' },
    { AttributeName: sortKey.name, KeyType: 'RANGE' },
  ];
}

function attributeDefinitions(keys: KeyDefinition[]): AttributeDefinition[] {
  const byName = new Map<string, AttributeDefinition>();
  for (const key of keys) byName.set(key.name, { AttributeName: key.name, AttributeType: key.type });
  return [...byName.values()];
}

function gsiSpec(index: TableDefinition['globalIndexes'][number]) {
  return {
    IndexName: index.name,
    KeySchema: keySchema(index.partitionKey, index.sortKey),
    Projection: { ProjectionType: 'ALL' as const },
  };
}

async function describeTable(client: DynamoDBClient, name: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/** Waits until the table and its indexes are ACTIVE (index changes take a moment, even locally). */
async function waitUntilActive(client: DynamoDBClient, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await describeTable(client, name);
    const indexes = table?.GlobalSecondaryIndexes ?? [];
    if (table?.TableStatus === 'ACTIVE' && indexes.every((index) => index.IndexStatus === 'ACTIVE')) return;
    if (Date.now() > deadline)
      throw new Error(`Table ${name} did not become ACTIVE within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sameKeys = (a: KeySchemaElement[] | undefined, b: KeySchemaElement[]) =>
  JSON.stringify((a ?? []).map((k) => [k.AttributeName, k.KeyType])) ===
  JSON.stringify(b.map((k) => [k.AttributeName, k.KeyType]));

async function ensureTable(
  client: DynamoDBClient,
  name: string,
  definition: TableDefinition,
  logger: Logger,
) {
  const existing = await describeTable(client, name);
  if (!existing) {
    const keys = [
      definition.partitionKey,
      definition.sortKey,
      ...definition.globalIndexes.flatMap((index) => [index.partitionKey, index.sortKey]),
    ];
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: keySchema(definition.partitionKey, definition.sortKey),
        AttributeDefinitions: attributeDefinitions(keys),
        GlobalSecondaryIndexes: definition.globalIndexes.length
          ? definition.globalIndexes.map(gsiSpec)
          : undefined,
      }),
    );
    await waitUntilActive(client, name);
    logger.info('created table', { table: name });
  } else {
    await waitUntilActive(client, name);
    if (!sameKeys(existing.KeySchema, keySchema(definition.partitionKey, definition.sortKey))) {
      throw new Error(
        `Table ${name} exists with another key schema than its definition; a key change needs a new table. ` +
          'Delete the local data directory (PARLEY_DATA_DIR) to start from scratch.',
      );
    }
    await reconcileIndexes(client, name, definition, existing.GlobalSecondaryIndexes ?? [], logger);
  }
  await ensureTimeToLive(client, name, definition.ttlAttribute, logger);
}

/** Adds indexes the definition gained and drops the ones it lost, one per update as DynamoDB requires. */
async function reconcileIndexes(
  client: DynamoDBClient,
  name: string,
  definition: TableDefinition,
  existing: GlobalSecondaryIndexDescription[],
  logger: Logger,
) {
  const wanted = new Map(definition.globalIndexes.map((index) => [index.name, index]));
  for (const index of existing) {
    const target = index.IndexName === undefined ? undefined : wanted.get(index.IndexName);
    if (target && sameKeys(index.KeySchema, keySchema(target.partitionKey, target.sortKey))) {
      wanted.delete(target.name);
      continue;
    }
    // Gone from the definition, or its keys changed (which CloudFormation does as replace).
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: index.IndexName } }],
      }),
    );
    await waitUntilActive(client, name);
    logger.info('deleted index', { table: name, index: index.IndexName });
  }
  for (const index of wanted.values()) {
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: attributeDefinitions([index.partitionKey, index.sortKey]),
        GlobalSecondaryIndexUpdates: [{ Create: gsiSpec(index) }],
      }),
    );
    await waitUntilActive(client, name);
    logger.info('created index', { table: name, index: index.name });
  }
}

async function ensureTimeToLive(client: DynamoDBClient, name: string, attribute: string, logger: Logger) {
  const current = (await client.send(new DescribeTimeToLiveCommand({ TableName: name })))
    .TimeToLiveDescription;
  const enabled = current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING';
  if (enabled && current?.AttributeName === attribute) return;
  if (enabled && current?.AttributeName) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { Enabled: false, AttributeName: current.AttributeName },
      }),
    );
  }
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { Enabled: true, AttributeName: attribute },
    }),
  );
  logger.debug('enabled TTL', { table: name, attribute });
}

// ---------------------------------------------------------------------------------------------
// SQS

async function queueExists(client: SQSClient, name: string): Promise<boolean> {
  try {
    await client.send(new GetQueueUrlCommand({ QueueName: name }));
    return true;
  } catch (error) {
    if (error instanceof QueueDoesNotExist || (error as { name?: string }).name === 'QueueDoesNotExist') {
      return false;
    }
    throw error;
  }
}

/** Creates the queue, or sets the attributes it should have (CreateQueue refuses differing ones). */
async function ensureQueue(
  client: SQSClient,
  sqsEndpoint: string,
  name: string,
  attributes: Record<string, string>,
  logger: Logger,
): Promise<{ url: string; arn: string }> {
  const url = localQueueUrl(sqsEndpoint, name);
  if (await queueExists(client, name)) {
    const { FifoQueue: _fifo, ...settable } = attributes;
    await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: settable }));
  } else {
    await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    logger.info('created queue', { queue: name });
  }
  const described = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return { url, arn: described.Attributes?.QueueArn ?? localQueueArn(name) };
}

async function ensureQueueWithDeadLetter(
  client: SQSClient,
  sqsEndpoint: string,
  prefix: string,
  name: string,
  definition: QueueDefinition,
  logger: Logger,
): Promise<ProvisionedQueue> {
  const fifo: Record<string, string> = definition.fifo
    ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' }
    : {};
  const deadLetterName = queueName(prefix, name, definition, true);
  const deadLetter = await ensureQueue(
    client,
    sqsEndpoint,
    deadLetterName,
    { ...fifo, MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS) },
    logger,
  );
  const mainName = queueName(prefix, name, definition);
  const queue = await ensureQueue(
    client,
    sqsEndpoint,
    mainName,
    {
      ...fifo,
      VisibilityTimeout: String(definition.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(definition.retentionDays * 24 * 60 * 60),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: deadLetter.arn,
        maxReceiveCount: definition.maxReceiveCount,
      }),
    },
    logger,
  );
  return {
    name: mainName,
    envVar: definition.envVar,
    url: queue.url,
    arn: queue.arn,
    fifo: definition.fifo,
    deadLetter: { name: deadLetterName, ...deadLetter },
  };
}

// ---------------------------------------------------------------------------------------------
// S3

/** Creates the bucket if needed and applies the CORS rule the stack gives it; true if created. */
async function ensureBucket(client: S3Client, name: string, logger: Logger): Promise<boolean> {
  let created = false;
  try {
    await client.send(new HeadBucketCommand({ Bucket: name }));
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 404) throw error;
    await client.send(new CreateBucketCommand({ Bucket: name }));
    created = true;
    logger.info('created bucket', { bucket: name });
  }
  // Browsers upload documents with a presigned POST (lib/constructs/data.ts has the same rule).
  await client.send(
    new PutBucketCorsCommand({
      Bucket: name,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedMethods: ['POST'],
            AllowedOrigins: ['*'],
            AllowedHeaders: ['*'],
            ExposeHeaders: ['ETag', 'Location'],
            MaxAgeSeconds: 3000,
          },
        ],
      },
    }),
  );
  return created;
}
