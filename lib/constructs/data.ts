import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type {
  BucketName,
  KeyDefinition,
  QueueName,
  ResourceDefinitions,
  TableName,
} from '../../shared/resources.ts';
import { acknowledge } from './nag.ts';
import { entries, pascal } from './names.ts';

/**
 * The key prefix under which each bucket's objects live (documents: `tenants/{tenantId}/bots/…`,
 * see `documentKey` in shared/domain/document.ts). Object grants and notifications are scoped to it.
 */
export const OBJECT_KEY_PREFIXES: Readonly<Record<BucketName, string>> = { documents: 'tenants/' };

export interface DataProps {
  readonly tables: ResourceDefinitions['tables'];
  readonly buckets: ResourceDefinitions['buckets'];
  /** Destinations for bucket notifications, by queue name. */
  readonly queues: Record<QueueName, sqs.IQueue>;
}

/** Tables and buckets: everything that holds tenant data. Retained when the stack is deleted. */
export class Data extends Construct {
  readonly tables: Record<TableName, dynamodb.Table>;
  readonly buckets: Record<BucketName, s3.Bucket>;
  /** Receives the S3 server access logs of the data buckets. */
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);

    const tables: Partial<Record<TableName, dynamodb.Table>> = {};
    for (const [name, def] of entries(props.tables)) {
      const table = new dynamodb.Table(this, `${pascal(name)}Table`, {
        partitionKey: attribute(def.partitionKey),
        sortKey: attribute(def.sortKey),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        timeToLiveAttribute: def.ttlAttribute,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      for (const index of def.globalIndexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: attribute(index.partitionKey),
          sortKey: attribute(index.sortKey),
          projectionType: dynamodb.ProjectionType.ALL,
        });
      }
      tables[name] = table;
    }
    this.tables = tables as Record<TableName, dynamodb.Table>;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Server access log delivery supports only SSE-S3 on the target bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const buckets: Partial<Record<BucketName, s3.Bucket>> = {};
    for (const [name, def] of entries(props.buckets)) {
      const bucket = new s3.Bucket(this, `${pascal(name)}Bucket`, {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: s3.BucketEncryption.S3_MANAGED,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: true,
        // Deleted documents leave noncurrent versions behind; they are kept for a week, then go.
        lifecycleRules: [
          {
            noncurrentVersionExpiration: Duration.days(7),
            abortIncompleteMultipartUploadAfter: Duration.days(1),
          },
        ],
        // Browsers upload documents straight to S3 with a presigned POST; the signed policy, not
        // the origin, is what authorises an upload.
        cors: [
          {
            allowedMethods: [s3.HttpMethods.POST],
            allowedOrigins: ['*'],
            allowedHeaders: ['*'],
            exposedHeaders: ['ETag', 'Location'],
            maxAge: 3000,
          },
        ],
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: `${name}/`,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      if (def.notifyQueue) {
        bucket.addEventNotification(
          s3.EventType.OBJECT_CREATED,
          new s3n.SqsDestination(props.queues[def.notifyQueue]),
          { prefix: OBJECT_KEY_PREFIXES[name] },
        );
        acknowledgeNotificationsHandler(this);
      }
      buckets[name] = bucket;
    }
    this.buckets = buckets as Record<BucketName, s3.Bucket>;
  }
}

/**
 * `addEventNotification` configures the bucket through CDK's singleton custom resource (an inline
 * Lambda function created once per stack), whose role uses the AWS-managed basic execution policy.
 */
function acknowledgeNotificationsHandler(scope: Construct): void {
  const handler = Stack.of(scope).node.tryFindChild(NOTIFICATIONS_HANDLER_ID);
  if (!handler) return;
  acknowledge(
    handler,
    'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    'CDK’s own bucket-notifications custom resource (runs only at deploy time); its role and policy are created by aws-cdk-lib, not configurable.',
  );
}

/** Construct id of aws-cdk-lib's bucket-notifications handler (aws-s3/lib/notifications-resource). */
export const NOTIFICATIONS_HANDLER_ID = 'BucketNotificationsHandler050a0587b7544547bf325f094a3db834';

function attribute(key: KeyDefinition): dynamodb.Attribute {
  return {
    name: key.name,
    type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER,
  };
}
