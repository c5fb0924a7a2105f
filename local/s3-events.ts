// S3 → SQS event notifications, as S3 delivers them: s3rver emits a record for every object
// written; for buckets with a notification queue, ObjectCreated records are sent to that queue
// in S3's message format (`{"Records":[…]}`, keys URL-encoded with `+` for spaces).

import { randomBytes, randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_REGION } from './aws.ts';
import { createLogger, type Logger } from './log.ts';

/** One record of an S3 event notification (the `Records[]` of the SQS message body). */
export interface S3NotificationRecord {
  eventVersion: string;
  eventSource: 'aws:s3';
  awsRegion: string;
  eventTime: string;
  eventName: string;
  userIdentity: { principalId: string };
  requestParameters: { sourceIPAddress: string };
  responseElements: { 'x-amz-request-id': string; 'x-amz-id-2': string };
  s3: {
    s3SchemaVersion: '1.0';
    configurationId: string;
    bucket: { name: string; ownerIdentity: { principalId: string }; arn: string };
    object: { key: string; size?: number; eTag?: string; sequencer: string };
  };
}

/** The shape s3rver 3.7 emits (close to S3's, but with the raw key and a malformed ARN). */
interface S3rverEvent {
  Records?: {
    eventName?: string;
    eventTime?: string;
    requestParameters?: { sourceIPAddress?: string };
    s3?: { bucket?: { name?: string }; object?: { key?: string; size?: number; eTag?: string } };
  }[];
}

const UNRESERVED = /[A-Za-z0-9.\-*_]/;

/**
 * Encodes an object key as S3 writes it into event notifications: form-style URL encoding
 * (`+` for a space, `%XX` for UTF-8 bytes of anything but `A-Za-z0-9.-*_`), with `/` kept.
 * Consumers decode with `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export function encodeS3EventKey(key: string): string {
  let encoded = '';
  for (const char of key) {
    if (char === '/' || UNRESERVED.test(char)) encoded += char;
    else if (char === ' ') encoded += '+';
    else
      for (const byte of Buffer.from(char, 'utf8'))
        encoded += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

/**
 * The uploader's address as S3 reports it. Locally every client is on loopback, which Koa may
 * give as `::1` or `::ffff:127.0.0.1`: written as the IPv4 address it is, as S3 would for a
 * client of its (IPv4-only) regional endpoint and as Powertools' S3 schema expects.
 */
export function sourceAddress(ip: string | undefined): string {
  if (!ip || ip === '::1') return '127.0.0.1';
  return ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex').toUpperCase();

let lastSequencer = 0n;
/** S3's sequencer: a hex value that grows with each event for a key (here: with each event). */
function nextSequencer(): string {
  const now = BigInt(Date.now()) * 1000n;
  lastSequencer = now > lastSequencer ? now : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(18, '0');
}

export function toNotificationRecord(
  source: NonNullable<S3rverEvent['Records']>[number],
  configurationId: string,
): S3NotificationRecord | undefined {
  const bucket = source.s3?.bucket?.name;
  const key = source.s3?.object?.key;
  if (!bucket || key === undefined || !source.eventName) return undefined;
  const object: S3NotificationRecord['s3']['object'] = {
    key: encodeS3EventKey(key),
    sequencer: nextSequencer(),
  };
  if (source.s3?.object?.size !== undefined) object.size = source.s3.object.size;
  if (source.s3?.object?.eTag !== undefined) object.eTag = source.s3.object.eTag;
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: LOCAL_REGION,
    eventTime: source.eventTime ?? new Date().toISOString(),
    eventName: source.eventName,
    userIdentity: { principalId: 'AWS:AIDALOCALPARLEY' },
    requestParameters: { sourceIPAddress: sourceAddress(source.requestParameters?.sourceIPAddress) },
    responseElements: { 'x-amz-request-id': hex(8), 'x-amz-id-2': randomBytes(48).toString('base64') },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId,
      bucket: {
        name: bucket,
        ownerIdentity: { principalId: 'A3PARLEYLOCAL' },
        arn: `arn:aws:s3:::${bucket}`,
      },
      object,
    },
  };
}

/** The message S3 sends to a queue when a notification configuration is put on a bucket. */
export async function sendS3TestEvent(sqs: SQSClient, queueUrl: string, bucket: string): Promise<void> {
  const body = {
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: new Date().toISOString(),
    Bucket: bucket,
    RequestId: hex(8),
    HostId: randomBytes(48).toString('base64'),
  };
  await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
}

export interface S3EventForwarderOptions {
  /** The s3rver instance (its `event` emitter). */
  readonly source: EventEmitter;
  readonly sqs: SQSClient;
  /** Bucket name → URL of the queue that receives its ObjectCreated notifications. */
  readonly targets: Readonly<Record<string, string>>;
  readonly logger?: Logger;
}

/** Forwards ObjectCreated events of the configured buckets, in order, one SQS message per record. */
export class S3EventForwarder {
  private readonly logger: Logger;
  private readonly configurationId = randomUUID();
  private chain: Promise<void> = Promise.resolve();
  private readonly listener = (event: S3rverEvent) => this.onEvent(event);
  private started = false;

  constructor(private readonly options: S3EventForwarderOptions) {
    this.logger = options.logger ?? createLogger({ level: 'SILENT' });
  }

  start(): this {
    if (!this.started) this.options.source.on('event', this.listener);
    this.started = true;
    return this;
  }

  /** Stops listening and waits for the messages already being sent. */
  async stop(): Promise<void> {
    this.options.source.off('event', this.listener);
    this.started = false;
    await this.chain;
  }

  private onEvent(event: S3rverEvent) {
    for (const source of event.Records ?? []) {
      if (!source.eventName?.startsWith('ObjectCreated:')) continue;
      const bucket = source.s3?.bucket?.name;
      const queueUrl = bucket === undefined ? undefined : this.options.targets[bucket];
      if (!queueUrl) continue;
      const record = toNotificationRecord(source, this.configurationId);
      if (!record) continue;
      this.chain = this.chain.then(() => this.send(queueUrl, record));
    }
  }

  private async send(queueUrl: string, record: S3NotificationRecord) {
    const body = JSON.stringify({ Records: [record] });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
        this.logger.debug('forwarded S3 event', {
          event: record.eventName,
          bucket: record.s3.bucket.name,
          key: record.s3.object.key,
        });
        return;
      } catch (error) {
        if (attempt >= 3) {
          this.logger.error('could not deliver an S3 event notification', {
            bucket: record.s3.bucket.name,
            key: record.s3.object.key,
            error,
          });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }
}
