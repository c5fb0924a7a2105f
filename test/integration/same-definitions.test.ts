// The CDK stack and the local platform build from one `ResourceDefinitions` value. This test takes
// a changed copy of it, synthesizes the stack from the copy AND provisions it into the running
// emulators, and reads both back: the change appears on both sides, and they agree.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { parseConfig } from '../../lib/config.ts';
import { ParleyStack } from '../../lib/parley-stack.ts';
import { createClients, type LocalClients } from '../../local/aws.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import { provision } from '../../local/provision.ts';
import { queueName, queues, type ResourceDefinitions, resources, tables } from '../../shared/resources.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

const changed = {
  ...resources,
  tables: {
    ...tables,
    usage: {
      ...tables.usage,
      sortKey: { name: 'slot', type: 'S' },
      globalIndexes: [
        { name: 'byDay', partitionKey: { name: 'day', type: 'S' }, sortKey: { name: 'sk', type: 'S' } },
      ],
    },
  },
  queues: { ...queues, embed: { ...queues.embed, visibilityTimeoutSeconds: 411, maxReceiveCount: 7 } },
} satisfies ResourceDefinitions;

// Its own emulators: DynamoDB Local has been seen to leave a later index backfill in CREATING
// when another test's tables were provisioned into the same instance just before.
const dataDir = mkdtempSync(join(tmpdir(), 'parley-same-'));
let emulators: Emulators;
let clients: LocalClients;
beforeAll(async () => {
  emulators = await startEmulators({ dataDir });
  clients = createClients(emulators.endpoints);
});
afterAll(async () => {
  clients.destroy();
  await emulators.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('one set of resource definitions', () => {
  it('changes the synthesized stack and the provisioned emulators alike', async () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ParleyStack(app, 'Parley-same', {
      config: parseConfig({ stage: 'same' }),
      resources: changed,
    });
    const template = Template.fromStack(stack).toJSON() as { Resources: Record<string, Resource> };
    const ofType = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);

    const local = await provision({
      clients,
      sqsEndpoint: emulators.endpoints.sqs,
      prefix: 'same',
      definitions: changed,
    });

    // Tables: the same key schemas and indexes on both sides, including the changed ones.
    const stackTables = ofType('AWS::DynamoDB::Table').map((t) => ({
      keys: t.Properties.KeySchema,
      indexes: (
        (t.Properties.GlobalSecondaryIndexes ?? []) as { IndexName: string; KeySchema: unknown }[]
      ).map((i) => [i.IndexName, i.KeySchema]),
    }));
    const localTables = await Promise.all(
      Object.values(local.tables).map(async ({ name }) => {
        const table = (await clients.dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table;
        return {
          keys: table?.KeySchema,
          indexes: (table?.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema]),
        };
      }),
    );
    const sort = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
    expect(sort(localTables)).toEqual(sort(stackTables));
    expect(JSON.stringify(localTables)).toContain('"slot"');
    expect(JSON.stringify(localTables)).toContain('"byDay"');

    // Queues: the same timeouts and redrive counts, including the changed ones.
    const stackQueues = ofType('AWS::SQS::Queue');
    for (const [name, definition] of Object.entries(changed.queues)) {
      const inStack = stackQueues.find(
        (q) => q.Properties.QueueName === queueName('parley-same', name, definition),
      );
      const url = local.queues[name]?.url ?? '';
      const attributes =
        (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] })))
          .Attributes ?? {};
      expect(Number(attributes.VisibilityTimeout)).toBe(inStack?.Properties.VisibilityTimeout);
      expect(JSON.parse(attributes.RedrivePolicy ?? '{}').maxReceiveCount).toBe(
        (inStack?.Properties.RedrivePolicy as { maxReceiveCount?: number } | undefined)?.maxReceiveCount,
      );
      expect(attributes.FifoQueue === 'true').toBe(definition.fifo);
    }
    expect(
      Number(
        stackQueues.find((q) => q.Properties.QueueName === 'parley-same-embed')?.Properties.VisibilityTimeout,
      ),
    ).toBe(411);
  });
});
