import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type QueueName, queueName, type ResourceDefinitions } from '../../shared/resources.ts';
import { entries, pascal } from './names.ts';

export interface QueuesProps {
  readonly namePrefix: string;
  readonly queues: ResourceDefinitions['queues'];
}

/** Dead-letter queues keep messages for the longest time SQS allows, for inspection and redrive. */
const DLQ_RETENTION = Duration.days(14);

/** Every queue in the resource definitions, each with its dead-letter queue. */
export class Queues extends Construct {
  readonly queues: Record<QueueName, sqs.Queue>;
  readonly deadLetterQueues: Record<QueueName, sqs.Queue>;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    const queues: Partial<Record<QueueName, sqs.Queue>> = {};
    const deadLetterQueues: Partial<Record<QueueName, sqs.Queue>> = {};

    for (const [name, def] of entries(props.queues)) {
      const id = pascal(name);
      const fifo = def.fifo ? { fifo: true, contentBasedDeduplication: false } : {};
      const dlq = new sqs.Queue(this, `${id}DeadLetterQueue`, {
        queueName: queueName(props.namePrefix, name, def, true),
        ...fifo,
        retentionPeriod: DLQ_RETENTION,
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      queues[name] = new sqs.Queue(this, `${id}Queue`, {
        queueName: queueName(props.namePrefix, name, def),
        ...fifo,
        visibilityTimeout: Duration.seconds(def.visibilityTimeoutSeconds),
        retentionPeriod: Duration.days(def.retentionDays),
        deadLetterQueue: { queue: dlq, maxReceiveCount: def.maxReceiveCount },
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
      });
      deadLetterQueues[name] = dlq;
    }
    this.queues = queues as Record<QueueName, sqs.Queue>;
    this.deadLetterQueues = deadLetterQueues as Record<QueueName, sqs.Queue>;
  }
}
