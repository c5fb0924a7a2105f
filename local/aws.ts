// AWS SDK clients for the platform's own calls to the emulators (provisioning, pollers, S3
// notifications). Handlers build their own clients and find the emulators through the
// AWS_ENDPOINT_URL_* variables; these set the endpoint explicitly instead.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
/**
 * s3rver accepts only its built-in key pair; DynamoDB Local (with -sharedDb) and fauxqs accept any,
 * so every local client, handlers included, signs with this one.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface Endpoints {
  readonly dynamodb: string;
  readonly s3: string;
  readonly sqs: string;
}

export interface LocalClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  /** fauxqs serves SNS on the SQS endpoint. */
  readonly sns: SNSClient;
  destroy(): void;
}

export function createClients(endpoints: Endpoints): LocalClients {
  const common = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 } as const;
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb });
  const s3 = new S3Client({
    ...common,
    endpoint: endpoints.s3,
    forcePathStyle: true,
    // s3rver stores aws-chunked bodies with their framing unless checksums are only sent when required.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // An explicit endpoint also keeps the SDK from sending requests to a queue URL's own host.
  const sqs = new SQSClient({ ...common, endpoint: endpoints.sqs });
  const sns = new SNSClient({ ...common, endpoint: endpoints.sqs });
  return {
    dynamodb,
    s3,
    sqs,
    sns,
    destroy() {
      dynamodb.destroy();
      s3.destroy();
      sqs.destroy();
      sns.destroy();
    },
  };
}

/**
 * The URL handed out for a queue. fauxqs answers with `http://sqs.<region>.localhost:<port>/…`,
 * a host that does not resolve everywhere, and the SDK sends requests to the queue URL's host
 * when the client's endpoint comes from AWS_ENDPOINT_URL_SQS; fauxqs finds a queue by the last
 * path segment, so a URL on the endpoint itself works for every client.
 */
export function localQueueUrl(sqsEndpoint: string, name: string): string {
  return `${sqsEndpoint.replace(/\/+$/, '')}/${LOCAL_ACCOUNT_ID}/${name}`;
}

export function localQueueArn(name: string): string {
  return `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
}
