// What the integration tests know about the local platform that jest's global setup started
// (test/support/global-setup.ts), and a small HTTP helper for calling its API.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// PARLEY_TEST_OUTPUT lets two integration runs on one checkout keep their platforms apart.
export const TEST_OUTPUT_DIR = resolve(REPO_ROOT, process.env.PARLEY_TEST_OUTPUT ?? 'test-output');
export const PLATFORM_FILE = resolve(TEST_OUTPUT_DIR, 'platform.json');

export interface PlatformInfo {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly baseUrl: string;
  readonly operatorKey: string;
  readonly dataDir: string;
  /** The platform's stdout and stderr (handler logs included). */
  readonly logFile: string;
  readonly pid: number;
  /** The emulators' endpoints, for tests that look behind the API. */
  readonly endpoints: { readonly dynamodb: string; readonly s3: string; readonly sqs: string };
  /** The environment the functions run with (table names, queue URLs, bucket, credentials). */
  readonly env: Readonly<Record<string, string>>;
}

let cached: PlatformInfo | undefined;

export function platform(): PlatformInfo {
  if (!cached) {
    try {
      cached = JSON.parse(readFileSync(PLATFORM_FILE, 'utf8')) as PlatformInfo;
    } catch (error) {
      throw new Error(
        `No running platform: ${PLATFORM_FILE} is missing. Run integration tests through jest's integration project ` +
          '(npm run test:integration), whose global setup starts the platform.',
        { cause: error },
      );
    }
  }
  return cached;
}

export interface ApiOptions {
  readonly method?: string;
  /** Sent as `Authorization: Bearer <key>`. */
  readonly key?: string;
  /** JSON-encoded, with `content-type: application/json`. */
  readonly body?: unknown;
  /** Sent as is (set the content type in `headers`). */
  readonly rawBody?: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiResponse {
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed body when it is JSON, else undefined. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response fields.
  readonly json: any;
  readonly text: string;
}

/** Calls the platform's API at `path` (e.g. `/admin/bots?limit=2`). */
export const api = (path: string, options: ApiOptions = {}): Promise<ApiResponse> =>
  apiAt(platform().baseUrl, path, options);

/** Calls the API of the platform at `baseUrl` (a test's platform of its own). */
export async function apiAt(baseUrl: string, path: string, options: ApiOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | Uint8Array | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  const response = await fetch(`${baseUrl}${path}`, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: Object.fromEntries(response.headers), json, text };
}

/** The emulators and function environment of the platform whose data dir is `dataDir` (its runtime.json). */
export function runtimeOf(dataDir: string): Pick<PlatformInfo, 'endpoints' | 'env'> {
  return JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8'));
}

/** The region and credentials of that platform's emulators, with the endpoint of one of them. */
function clientConfigAt(dataDir: string, service: 'dynamodb' | 'sqs') {
  const { endpoints, env } = runtimeOf(dataDir);
  return {
    endpoint: endpoints[service],
    region: env.AWS_REGION,
    credentials: {
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
    },
  };
}

/** A DynamoDB document client on that platform's DynamoDB Local, for looking behind the API. */
export const documentClientAt = (dataDir: string): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(new DynamoDBClient(clientConfigAt(dataDir, 'dynamodb')));

/** An SQS client on that platform's fauxqs. */
export const sqsClientAt = (dataDir: string): SQSClient => new SQSClient(clientConfigAt(dataDir, 'sqs'));

/** Messages in a queue of that platform, visible and in flight: 0 once its consumer is done. */
export async function queueBacklog(dataDir: string, queueUrlVar: string): Promise<number> {
  const sqs = sqsClientAt(dataDir);
  try {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: runtimeOf(dataDir).env[queueUrlVar],
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  } finally {
    sqs.destroy();
  }
}
