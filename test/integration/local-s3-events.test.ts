// S3 → SQS notifications: objects written to s3rver (here an instance of this test, with the
// platform's fauxqs) arrive on the bucket's notification queue as S3 would send them.

import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Schema } from '@aws-lambda-powertools/parser/schemas/s3';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClients, LOCAL_CREDENTIALS, type LocalClients } from '../../local/aws.ts';
import { type S3Local, startS3 } from '../../local/emulators.ts';
import { type Provisioned, provision } from '../../local/provision.ts';
import { encodeS3EventKey, S3EventForwarder, type S3NotificationRecord } from '../../local/s3-events.ts';
import { S3NotificationSchema } from '../../shared/sqs.ts';
import { platform } from '../support/platform.ts';

const prefix = `s3ev${randomBytes(4).toString('hex')}`;
const definitions = {
  tables: {},
  queues: {
    uploads: {
      envVar: 'UPLOADS_QUEUE_URL',
      fifo: false,
      visibilityTimeoutSeconds: 30,
      maxReceiveCount: 3,
      retentionDays: 1,
    },
  },
  buckets: {
    docs: { envVar: 'DOCS_BUCKET', notifyQueue: 'uploads' },
    quiet: { envVar: 'QUIET_BUCKET' },
  },
};

let directory: string;
let s3: S3Local;
let clients: LocalClients;
let provisioned: Provisioned;
let forwarder: S3EventForwarder;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'parley-s3-events-'));
  s3 = await startS3({ directory });
  clients = createClients({ ...platform().endpoints, s3: s3.endpoint });
  provisioned = await provision({ clients, sqsEndpoint: platform().endpoints.sqs, definitions, prefix });
  forwarder = new S3EventForwarder({
    source: s3.server,
    sqs: clients.sqs,
    targets: { [`${prefix}-docs`]: provisioned.queues.uploads?.url ?? '' },
  }).start();
});

afterAll(async () => {
  await forwarder.stop();
  clients.destroy();
  await s3.stop();
  rmSync(directory, { recursive: true, force: true });
});

const bucket = () => `${prefix}-docs`;
const queueUrl = () => provisioned.queues.uploads?.url ?? '';

async function nextMessages(count: number, timeoutMs = 5000): Promise<unknown[]> {
  const bodies: unknown[] = [];
  const deadline = Date.now() + timeoutMs;
  while (bodies.length < count && Date.now() < deadline) {
    const wait = deadline - Date.now() >= 1000 ? 1 : 0;
    const received = await clients.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl(), WaitTimeSeconds: wait, MaxNumberOfMessages: 10 }),
    );
    for (const message of received.Messages ?? []) bodies.push(JSON.parse(message.Body ?? 'null'));
  }
  return bodies;
}

const KEY = 'tenants/t1/bots/b1/documents/d1/Q3 report (final) ü+&=.pdf';
const ENCODED = 'tenants/t1/bots/b1/documents/d1/Q3+report+%28final%29+%C3%BC%2B%26%3D.pdf';

describe('S3 event notifications', () => {
  it("sends S3's test event once, when the bucket's notifications are first configured", async () => {
    expect(provisioned.buckets.docs?.created).toBe(true);
    const [test, ...rest] = await nextMessages(1);
    expect(test).toMatchObject({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: bucket() });
    expect(S3NotificationSchema.parse(test)).not.toHaveProperty('Records');
    expect(rest).toEqual([]);

    const again = await provision({ clients, sqsEndpoint: platform().endpoints.sqs, definitions, prefix });
    expect(again.buckets.docs?.created).toBe(false);
    expect(await nextMessages(1, 1200)).toEqual([]);
  });

  it('encodes keys as S3 does: form encoding with + for spaces, slashes kept', () => {
    expect(encodeS3EventKey(KEY)).toBe(ENCODED);
    expect(encodeS3EventKey('a-b_c.d*e~f')).toBe('a-b_c.d*e%7Ef');
    expect(decodeURIComponent(ENCODED.replace(/\+/g, ' '))).toBe(KEY);
  });

  it('forwards ObjectCreated:Put for an SDK upload, with the URL-encoded key', async () => {
    const body = Buffer.from('%PDF-1.4 fake but honest bytes');
    await clients.s3.send(
      new PutObjectCommand({ Bucket: bucket(), Key: KEY, Body: body, ContentType: 'application/pdf' }),
    );
    const [message] = (await nextMessages(1)) as { Records: S3NotificationRecord[] }[];
    expect(message?.Records).toHaveLength(1);
    expect(message?.Records[0]).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventName: 'ObjectCreated:Put',
      s3: {
        s3SchemaVersion: '1.0',
        bucket: { name: bucket(), arn: `arn:aws:s3:::${bucket()}` },
        object: { key: ENCODED, size: body.length, eTag: expect.stringMatching(/^[0-9a-f]{32}$/) },
      },
    });
    expect(Date.parse(message?.Records[0]?.eventTime ?? '')).toBeGreaterThan(Date.now() - 60_000);
    // What the ingest function reads, by Powertools' S3 schema as it stands and by the ingest one.
    expect(S3Schema.safeParse(message).error).toBeUndefined();
    expect(S3NotificationSchema.safeParse(message).error).toBeUndefined();
    // Stored as sent (no aws-chunked framing): the consumer reads back the exact bytes.
    const stored = await clients.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: KEY }));
    expect(
      Buffer.from(
        await (stored.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      ),
    ).toEqual(body);
  });

  it('forwards ObjectCreated:Post for a browser-style presigned POST upload', async () => {
    const key = 'tenants/t1/bots/b1/documents/d2/notes & minutes.txt';
    const content = 'Minutes of the meeting.\n';
    const form = presignedPost(bucket(), key, 'text/plain');
    const data = new FormData();
    for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
    data.append('file', new Blob([content], { type: 'text/plain' }), 'notes.txt');
    const res = await fetch(form.url, { method: 'POST', body: data });
    expect(res.status).toBe(204);

    const [message] = (await nextMessages(1)) as { Records: S3NotificationRecord[] }[];
    expect(message?.Records[0]).toMatchObject({
      eventName: 'ObjectCreated:Post',
      s3: { object: { key: 'tenants/t1/bots/b1/documents/d2/notes+%26+minutes.txt', size: content.length } },
    });
    expect(S3Schema.safeParse(message).error).toBeUndefined();
  });

  it('sends nothing for a bucket without a notification queue', async () => {
    await clients.s3.send(new PutObjectCommand({ Bucket: `${prefix}-quiet`, Key: 'x.txt', Body: 'x' }));
    expect(await nextMessages(1, 1200)).toEqual([]);
  });
});

/** A SigV4 presigned POST policy for the bucket (what @aws-sdk/s3-presigned-post produces). */
function presignedPost(bucketName: string, key: string, contentType: string) {
  const now = new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const credential = `${LOCAL_CREDENTIALS.accessKeyId}/${day}/us-east-1/s3/aws4_request`;
  const policy = Buffer.from(
    JSON.stringify({
      expiration: new Date(now.getTime() + 5 * 60_000).toISOString(),
      conditions: [
        { bucket: bucketName },
        ['eq', '$key', key],
        ['eq', '$Content-Type', contentType],
        ['content-length-range', 1, 1024 * 1024],
        { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
        { 'x-amz-credential': credential },
        { 'x-amz-date': amzDate },
      ],
    }),
  ).toString('base64');
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = ['us-east-1', 's3', 'aws4_request'].reduce(
    (k, part) => hmac(k, part),
    hmac(`AWS4${LOCAL_CREDENTIALS.secretAccessKey}`, day),
  );
  return {
    url: `${platformS3()}/${bucketName}`,
    fields: {
      key,
      'Content-Type': contentType,
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': credential,
      'X-Amz-Date': amzDate,
      Policy: policy,
      'X-Amz-Signature': createHmac('sha256', signingKey).update(policy).digest('hex'),
    },
  };
}

const platformS3 = () => s3.endpoint;
