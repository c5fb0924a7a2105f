// Provisioning reads the same resource definitions as the CDK stack (shared/resources.ts): what
// it creates in the emulators matches them, a changed definition changes what is provisioned,
// and the running platform was provisioned from them.

import { randomBytes } from 'node:crypto';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  GetItemCommand,
  PutItemCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { GetBucketCorsCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { ListTopicsCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClients, type LocalClients } from '../../local/aws.ts';
import { DLQ_RETENTION_SECONDS, provision } from '../../local/provision.ts';
import {
  type QueueDefinition,
  type QueueName,
  queueName,
  type ResourceDefinitions,
  resources,
  type TableDefinition,
} from '../../shared/resources.ts';
import { platform } from '../support/platform.ts';

let clients: LocalClients;

beforeAll(() => {
  clients = createClients(platform().endpoints);
});

afterAll(() => clients.destroy());

const describeTable = async (name: string) =>
  (await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table as TableDescription;

const queueAttributes = async (url: string) =>
  (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
    .Attributes ?? {};

function expectTableMatches(table: TableDescription, definition: TableDefinition) {
  expect(table.KeySchema).toEqual([
    { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
    { AttributeName: definition.sortKey.name, KeyType: 'RANGE' },
  ]);
  expect(table.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
  const indexes = (table.GlobalSecondaryIndexes ?? []).map((index) => ({
    name: index.IndexName,
    keys: index.KeySchema?.map((key) => key.AttributeName),
    projection: index.Projection?.ProjectionType,
  }));
  expect(indexes.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual(
    definition.globalIndexes.map((index) => ({
      name: index.name,
      keys: [index.partitionKey.name, index.sortKey.name],
      projection: 'ALL',
    })),
  );
  for (const key of [definition.partitionKey, definition.sortKey]) {
    expect(table.AttributeDefinitions).toContainEqual({ AttributeName: key.name, AttributeType: key.type });
  }
}

async function expectQueueMatches(url: string, definition: QueueDefinition, deadLetterArn: string) {
  const attributes = await queueAttributes(url);
  expect(Number(attributes.VisibilityTimeout)).toBe(definition.visibilityTimeoutSeconds);
  expect(Number(attributes.MessageRetentionPeriod)).toBe(definition.retentionDays * 86_400);
  expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toEqual({
    deadLetterTargetArn: deadLetterArn,
    maxReceiveCount: definition.maxReceiveCount,
  });
  expect(attributes.FifoQueue === 'true').toBe(definition.fifo);
}

describe('provisioning', () => {
  const prefix = `res${randomBytes(4).toString('hex')}`;

  it('creates every table, queue with its DLQ, and bucket as declared', async () => {
    const provisioned = await provision({ clients, sqsEndpoint: platform().endpoints.sqs, prefix });

    for (const [name, definition] of Object.entries(resources.tables)) {
      const table = await describeTable(`${prefix}-${name}`);
      expectTableMatches(table, definition);
      const ttl = await clients.dynamodb.send(
        new DescribeTimeToLiveCommand({ TableName: `${prefix}-${name}` }),
      );
      expect(ttl.TimeToLiveDescription).toMatchObject({
        TimeToLiveStatus: 'ENABLED',
        AttributeName: definition.ttlAttribute,
      });
    }

    for (const [name, definition] of Object.entries(resources.queues) as [QueueName, QueueDefinition][]) {
      const queue = provisioned.queues[name];
      if (!queue) throw new Error(`queue ${name} missing`);
      // The same names as the stack's.
      expect(queue.name).toBe(queueName(prefix, name, definition));
      expect(queue.deadLetter.name).toBe(queueName(prefix, name, definition, true));
      await expectQueueMatches(queue.url, definition, queue.deadLetter.arn);
      const deadLetter = await queueAttributes(queue.deadLetter.url);
      expect(Number(deadLetter.MessageRetentionPeriod)).toBe(DLQ_RETENTION_SECONDS);
      expect(deadLetter.FifoQueue === 'true').toBe(definition.fifo);
    }

    // The on-call topic, in fauxqs's SNS.
    expect(provisioned.onCallTopicArn).toMatch(new RegExp(`^arn:aws:sns:[\\w-]+:\\d+:${prefix}-oncall$`));
    const topics = await clients.sns.send(new ListTopicsCommand({}));
    expect(topics.Topics?.map((t) => t.TopicArn)).toContain(provisioned.onCallTopicArn);

    const bucket = provisioned.buckets.documents;
    expect(bucket).toMatchObject({ name: `${prefix}-documents`, created: true, notifyQueue: 'ingest' });
    await clients.s3.send(new HeadBucketCommand({ Bucket: `${prefix}-documents` }));
    const cors = await clients.s3.send(new GetBucketCorsCommand({ Bucket: `${prefix}-documents` }));
    expect(cors.CORSRules?.[0]?.AllowedMethods).toEqual(['POST']);

    // S3's test event, sent once when the bucket's notifications were configured.
    const received = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: provisioned.queues.ingest?.url, MaxNumberOfMessages: 10 }),
    );
    expect(received.Messages?.map((message) => JSON.parse(message.Body ?? '{}'))).toEqual([
      expect.objectContaining({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: `${prefix}-documents` }),
    ]);
  });

  it('applies changed definitions to the provisioned resources and keeps their data', async () => {
    const tenants = `${prefix}-tenants`;
    await clients.dynamodb.send(
      new PutItemCommand({
        TableName: tenants,
        Item: { pk: { S: 'KEEP' }, sk: { S: 'ME' }, note: { S: 'still here' } },
      }),
    );

    const changed: ResourceDefinitions = {
      ...resources,
      tables: {
        ...resources.tables,
        tenants: {
          ...resources.tables.tenants,
          globalIndexes: [
            ...resources.tables.tenants.globalIndexes,
            {
              name: 'gsi2',
              partitionKey: { name: 'gsi2pk', type: 'S' },
              sortKey: { name: 'gsi2sk', type: 'N' },
            },
          ],
        },
      },
      queues: {
        ...resources.queues,
        ingest: { ...resources.queues.ingest, visibilityTimeoutSeconds: 42, maxReceiveCount: 7 },
      },
    };
    const provisioned = await provision({
      clients,
      sqsEndpoint: platform().endpoints.sqs,
      prefix,
      definitions: changed,
    });

    const table = await describeTable(tenants);
    expectTableMatches(table, changed.tables.tenants);
    expect(table.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toContain('gsi2');
    expect(table.AttributeDefinitions).toContainEqual({ AttributeName: 'gsi2sk', AttributeType: 'N' });

    const ingest = provisioned.queues.ingest;
    if (!ingest) throw new Error('ingest missing');
    await expectQueueMatches(ingest.url, changed.queues.ingest, ingest.deadLetter.arn);
    const attributes = await queueAttributes(ingest.url);
    expect(attributes.VisibilityTimeout).toBe('42');

    const item = await clients.dynamodb.send(
      new GetItemCommand({ TableName: tenants, Key: { pk: { S: 'KEEP' }, sk: { S: 'ME' } } }),
    );
    expect(item.Item?.note?.S).toBe('still here');
    // The bucket existed: no second test event.
    expect(provisioned.buckets.documents?.created).toBe(false);
    const received = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: ingest.url, WaitTimeSeconds: 0 }),
    );
    expect(received.Messages ?? []).toEqual([]);

    // And back: the index the definitions no longer have is dropped.
    await provision({ clients, sqsEndpoint: platform().endpoints.sqs, prefix });
    expectTableMatches(await describeTable(tenants), resources.tables.tenants);
  });

  it('refuses a changed table key instead of keeping a table that no longer matches', async () => {
    const changed: ResourceDefinitions = {
      ...resources,
      tables: {
        ...resources.tables,
        usage: { ...resources.tables.usage, sortKey: { name: 'day', type: 'N' } },
      },
    };
    await expect(
      provision({ clients, sqsEndpoint: platform().endpoints.sqs, prefix, definitions: changed }),
    ).rejects.toThrow(/another key schema/);
  });
});

describe('the running platform', () => {
  it('was provisioned from shared/resources.ts and gives functions the names', async () => {
    const { env } = platform();
    for (const [name, definition] of Object.entries(resources.tables)) {
      expect(env[definition.envVar]).toBe(`parley-${name}`);
      expectTableMatches(await describeTable(`parley-${name}`), definition);
    }
    for (const [name, definition] of Object.entries(resources.queues) as [QueueName, QueueDefinition][]) {
      const url = env[definition.envVar] ?? '';
      expect(url).toBe(`${platform().endpoints.sqs}/000000000000/${queueName('parley', name, definition)}`);
      const attributes = await queueAttributes(url);
      expect(Number(attributes.VisibilityTimeout)).toBe(definition.visibilityTimeoutSeconds);
      expect(JSON.parse(attributes.RedrivePolicy ?? '{}').maxReceiveCount).toBe(definition.maxReceiveCount);
    }
    for (const [name, definition] of Object.entries(resources.buckets)) {
      expect(env[definition.envVar]).toBe(`parley-${name}`);
    }
  });

  it('gives functions the local endpoints, credentials and settings', () => {
    const { env, endpoints, operatorKey, baseUrl, dataDir } = platform();
    expect(env).toMatchObject({
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_SQS: endpoints.sqs,
      AWS_ACCESS_KEY_ID: expect.any(String),
      AWS_SECRET_ACCESS_KEY: expect.any(String),
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      PARLEY_OPERATOR_KEY: operatorKey,
      PARLEY_DATA_DIR: dataDir,
      STAGE: 'local',
      POWERTOOLS_SERVICE_NAME: 'parley',
      LOG_LEVEL: 'DEBUG',
      PUBLIC_BASE_URL: baseUrl,
    });
    for (const endpoint of Object.values(endpoints)) expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
