// The local API Gateway emulation, in-process with fixture handlers (test/fixtures/handlers):
// the proxy event it builds, how it writes results, its own error answers, and streaming.

import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { Gateway } from '../../local/gateway.ts';
import {
  applyLambdaEnvironment,
  FunctionHost,
  type LocalFunctionDefinition,
  lambdaEnvironment,
} from '../../local/lambda.ts';
import { createLogger, parseLogLevel } from '../../local/log.ts';
import { functionClock } from '../../shared/wiring/clock.ts';
import { invocations } from '../fixtures/handlers/http.ts';
import { closeGate, openGate, streamState } from '../fixtures/handlers/stream-control.ts';
import { REPO_ROOT } from '../support/platform.ts';

const http = (timeoutSeconds = 5): LocalFunctionDefinition => ({
  entry: 'test/fixtures/handlers/http.ts',
  memoryMb: 128,
  timeoutSeconds,
  streaming: false,
});
const functions: Record<string, LocalFunctionDefinition> = {
  echo: http(),
  slow: http(1),
  stream: { entry: 'test/fixtures/handlers/stream.ts', memoryMb: 256, timeoutSeconds: 5, streaming: true },
};
const routes = [
  { method: 'GET', path: '/echo/{name}/items/{id}', function: 'echo' },
  { method: 'GET', path: '/echo/static/items/{id}', function: 'echo' },
  { method: 'POST', path: '/echo', function: 'echo' },
  { method: 'GET', path: '/files/{path+}', function: 'echo' },
  { method: 'GET', path: '/throws', function: 'echo' },
  { method: 'GET', path: '/malformed', function: 'echo' },
  { method: 'GET', path: '/png', function: 'echo' },
  { method: 'GET', path: '/no-content-type', function: 'echo' },
  { method: 'GET', path: '/invoke-store', function: 'echo' },
  { method: 'GET', path: '/slow', function: 'slow' },
  { method: 'POST', path: '/stream', function: 'stream' },
  { method: 'POST', path: '/stream/fails-early', function: 'stream' },
  { method: 'POST', path: '/stream/fails-late', function: 'stream' },
];

let gateway: Gateway;
let base: string;

beforeAll(async () => {
  gateway = new Gateway({
    routes,
    logger: createLogger({ level: parseLogLevel(process.env.TEST_LOG_LEVEL, 'SILENT') }),
  });
  await gateway.listen(0);
  gateway.attach(
    new FunctionHost({
      functions,
      rootDir: REPO_ROOT,
      logger: createLogger({ level: parseLogLevel(process.env.TEST_LOG_LEVEL, 'SILENT') }),
    }),
  );
  base = gateway.url;
});

afterAll(() => gateway.close());

beforeEach(() => {
  invocations.length = 0;
});

/** A raw request, for what fetch cannot send (repeated headers, exact header case). */
function rawRequest(
  path: string,
  options: { method?: string; headers?: string[]; body?: Buffer },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    // With headers given as a raw list, Node adds no Host header of its own.
    const headers = options.headers ? ['Host', new URL(base).host, ...options.headers] : undefined;
    const req = request(`${base}${path}`, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const echoed = (body: Buffer | string) =>
  JSON.parse(body.toString()) as {
    event: APIGatewayProxyEvent;
    env: Record<string, string>;
    context: Record<string, unknown>;
  };

describe('proxy event (REST API, payload format 1.0)', () => {
  it('carries the resource, decoded path parameters, query strings and headers', async () => {
    const res = await rawRequest(
      '/echo/caf%C3%A9%20au%20lait/items/a%2Fb?q=1&tag=x&tag=y%20z&empty=&enc=a%26b',
      {
        headers: [
          'X-Custom-Header',
          'Value',
          'X-Dup',
          'one',
          'X-Dup',
          'two',
          'User-Agent',
          'fixture-agent/1',
        ],
      },
    );
    expect(res.status).toBe(200);
    const { event, context } = echoed(res.body);
    expect(event).toMatchObject({
      resource: '/echo/{name}/items/{id}',
      path: '/echo/caf%C3%A9%20au%20lait/items/a%2Fb',
      httpMethod: 'GET',
      pathParameters: { name: 'café au lait', id: 'a/b' },
      queryStringParameters: { q: '1', tag: 'y z', empty: '', enc: 'a&b' },
      multiValueQueryStringParameters: { q: ['1'], tag: ['x', 'y z'], empty: [''], enc: ['a&b'] },
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
    });
    expect(event.headers).toMatchObject({
      'X-Custom-Header': 'Value',
      'X-Dup': 'two',
      'User-Agent': 'fixture-agent/1',
    });
    expect(event.multiValueHeaders).toMatchObject({ 'X-Dup': ['one', 'two'], 'X-Custom-Header': ['Value'] });
    expect(event.headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(event.headers['X-Forwarded-Proto']).toBe('http');

    const requestId = res.headers['x-request-id'];
    expect(res.headers['x-amzn-requestid']).toBe(requestId);
    expect(event.requestContext).toMatchObject({
      requestId,
      stage: 'local',
      resourcePath: '/echo/{name}/items/{id}',
      httpMethod: 'GET',
      path: '/local/echo/caf%C3%A9%20au%20lait/items/a%2Fb',
      accountId: '000000000000',
      identity: { sourceIp: '127.0.0.1', userAgent: 'fixture-agent/1' },
    });
    expect(event.requestContext.requestTimeEpoch).toBeGreaterThan(Date.now() - 10_000);
    expect(event.requestContext.domainName).toBe(new URL(base).host);

    expect(context).toMatchObject({
      functionName: 'parley-local-echo',
      memoryLimitInMB: '128',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:parley-local-echo',
    });
    expect(context.awsRequestId).toEqual(expect.any(String));
    expect(context.remainingMs).toBeGreaterThan(3000);
    expect(context.remainingMs).toBeLessThanOrEqual(5000);
  });

  it('has no query or path parameters when there are none, and matches the most specific resource', async () => {
    const res = await fetch(`${base}/echo/static/items/7`);
    const { event } = echoed(await res.text());
    expect(event.resource).toBe('/echo/static/items/{id}');
    expect(event.pathParameters).toEqual({ id: '7' });
    expect(event.queryStringParameters).toBeNull();
    expect(event.multiValueQueryStringParameters).toBeNull();

    const greedy = echoed(await (await fetch(`${base}/files/a/b%20c/d.txt`)).text()).event;
    expect(greedy.pathParameters).toEqual({ path: 'a/b c/d.txt' });
  });

  it('passes text bodies as UTF-8 and binary content types base64-encoded', async () => {
    const json = { message: 'héllo ✓' };
    const text = echoed(
      await (
        await fetch(`${base}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(json),
        })
      ).text(),
    ).event;
    expect(text.isBase64Encoded).toBe(false);
    expect(JSON.parse(text.body ?? '')).toEqual(json);

    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a, 0xc3]);
    const binary = echoed(
      await (
        await fetch(`${base}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: bytes,
        })
      ).text(),
    ).event;
    expect(binary.isBase64Encoded).toBe(true);
    expect(Buffer.from(binary.body ?? '', 'base64').equals(bytes)).toBe(true);
  });

  it('keeps per-invocation state apart for concurrent invocations (awslambda.InvokeStore)', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, async () => (await fetch(`${base}/invoke-store`)).json()),
    );
    for (const result of results as { storeRequestId: string; awsRequestId: string }[]) {
      expect(result.storeRequestId).toBe(result.awsRequestId);
    }
    expect(new Set(results.map((result) => (result as { awsRequestId: string }).awsRequestId)).size).toBe(5);
  });

  it('runs handlers with the environment the platform applies', async () => {
    const saved = { ...process.env };
    try {
      applyLambdaEnvironment(
        lambdaEnvironment({
          provisioned: {
            tables: {},
            queues: {},
            buckets: {},
            onCallTopicArn: 'arn:aws:sns:us-east-1:000000000000:parley-oncall',
          },
          endpoints: { dynamodb: 'http://127.0.0.1:1', s3: 'http://127.0.0.1:2', sqs: 'http://127.0.0.1:3' },
          operatorKey: 'operator-key',
          publicBaseUrl: base,
          dataDir: '/tmp/parley',
        }),
      );
      const { env } = echoed(await (await fetch(`${base}/echo/a/items/b`)).text());
      expect(env).toEqual({
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2',
        AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:3',
        STAGE: 'local',
        TZ: 'UTC',
      });
    } finally {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    }
  });
});

describe('writing results', () => {
  it('decodes base64 bodies and sends headers and multi-value headers', async () => {
    const png = await fetch(`${base}/png`);
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await png.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');

    const echo = await fetch(`${base}/echo/a/items/b`);
    expect(echo.headers.get('x-fixture')).toBe('echo');
    expect(echo.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
  });

  it('defaults the content type to application/json, like API Gateway', async () => {
    const res = await fetch(`${base}/no-content-type`);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ created: true });
  });

  it('reports time in the handler and in the gateway in Server-Timing', async () => {
    const res = await fetch(`${base}/echo/a/items/b`);
    const timing = res.headers.get('server-timing') ?? '';
    expect(timing).toMatch(/handler;dur=\d+\.\d+/);
    expect(timing).toMatch(/gateway;dur=\d+\.\d+/);
  });
});

describe("API Gateway's own answers", () => {
  const expectEnvelope = async (res: Response, status: number, code: string) => {
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message).toEqual(expect.any(String));
    expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    return body;
  };

  it('answers 404 not_found for an unknown route, a wrong method and OPTIONS', async () => {
    const unknown = await expectEnvelope(await fetch(`${base}/nowhere`), 404, 'not_found');
    // The stack's Gateway Response for unknown routes (shared/gateway-responses.ts).
    expect(unknown.error.message).toBe('No such route');
    await expectEnvelope(await fetch(`${base}/echo/a/items/b`, { method: 'DELETE' }), 404, 'not_found');
    await expectEnvelope(await fetch(`${base}/echo/a/items`), 404, 'not_found');
    await expectEnvelope(
      await fetch(`${base}/echo`, {
        method: 'OPTIONS',
        headers: { origin: 'http://example.com', 'access-control-request-method': 'POST' },
      }),
      404,
      'not_found',
    );
    expect(invocations).toEqual([]);
  });

  it('answers 413 payload_too_large over 10 MB without invoking the function', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x61);
    const tooLarge = await expectEnvelope(
      await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: big }),
      413,
      'payload_too_large',
    );
    expect(tooLarge.error.message).toBe('Request body is larger than 10 MB');
    // Without a content-length (chunked), the gateway counts as it reads and stops at the limit.
    const chunks = (async function* () {
      for (let i = 0; i < 12; i++) yield Buffer.alloc(1024 * 1024, 0x62);
    })();
    await expectEnvelope(
      await fetch(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: ReadableStream.from(chunks),
        duplex: 'half',
      } as RequestInit),
      413,
      'payload_too_large',
    );
    expect(invocations).toEqual([]);

    // Under API Gateway's 10 MB but over Lambda's 6 MB: no function could take it, so it is a
    // 413 too (AWS answers 502 there), and the body is not read into memory.
    for (const size of [10 * 1024 * 1024, 7 * 1024 * 1024]) {
      const overFunction = await expectEnvelope(
        await fetch(`${base}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: Buffer.alloc(size, 0x61),
        }),
        413,
        'payload_too_large',
      );
      expect(overFunction.error.message).toBe('Request body is larger than the 6 MB a function accepts');
    }
    expect(invocations).toEqual([]);
  });

  it('answers 502 internal, as API Gateway does, with the request id and no stack when the handler throws', async () => {
    const res = await fetch(`${base}/throws`);
    const text = await res.clone().text();
    const body = await expectEnvelope(res, 502, 'internal');
    expect(body.error.message).toBe('Internal server error');
    expect(text).not.toMatch(/hunter2|secret\.ts|at .*\(/);
  });

  it('answers 502 internal when the handler returns a malformed proxy result', async () => {
    await expectEnvelope(await fetch(`${base}/malformed`), 502, 'internal');
  });

  it("answers 504 internal when the handler runs past its function's timeout", async () => {
    const started = Date.now();
    await expectEnvelope(await fetch(`${base}/slow`), 504, 'internal');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('has the clock hook only with test hooks on, and it moves the functions’ clock', async () => {
    const clockUrl = (url: string) => `${url}/_local/clock`;
    const put = (url: string, body: string) => fetch(clockUrl(url), { method: 'PUT', body });
    await expectEnvelope(await put(base, '{"offsetSeconds":60}'), 404, 'not_found');
    expect(process.env.CLOCK_OFFSET_SECONDS).toBeUndefined();

    const hooked = new Gateway({ routes, testHooks: true });
    await hooked.listen(0);
    hooked.attach(new FunctionHost({ functions, rootDir: REPO_ROOT }));
    try {
      expect((await put(hooked.url, '{"offsetSeconds":"soon"}')).status).toBe(400);
      expect((await put(hooked.url, 'not json')).status).toBe(400);
      expect((await fetch(clockUrl(hooked.url))).status).toBe(405);
      const before = functionClock.now().getTime();
      expect(await (await put(hooked.url, '{"offsetSeconds":3600}')).json()).toEqual({ offsetSeconds: 3600 });
      expect(functionClock.now().getTime() - before).toBeGreaterThanOrEqual(3_600_000);
      await put(hooked.url, '{"offsetSeconds":0}');
      expect(functionClock.now().getTime() - before).toBeLessThan(3_600_000);
    } finally {
      delete process.env.CLOCK_OFFSET_SECONDS;
      await hooked.close();
    }
  });

  it('answers 503 until the functions are attached', async () => {
    const starting = new Gateway({ routes });
    await starting.listen(0);
    try {
      await expectEnvelope(await fetch(`${starting.url}/echo/a/items/b`), 503, 'internal');
    } finally {
      await starting.close();
    }
  });
});

describe('response streaming', () => {
  it('sends each chunk as the handler writes it, with the status and headers of HttpResponseStream.from', async () => {
    closeGate();
    const res = await fetch(`${base}/stream`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    expect(res.headers.get('x-fixture')).toBe('stream');
    expect(res.headers.get('x-request-id')).toEqual(expect.any(String));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();

    const first = await reader.read();
    expect(decoder.decode(first.value)).toContain('"first"');
    // The handler is still waiting at the gate: the first chunk was not buffered until the end.
    expect(streamState.started).toBe(true);
    expect(streamState.finished).toBe(false);

    openGate();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += decoder.decode(chunk.value);
    expect(rest).toContain('event: done');
    expect(streamState.finished).toBe(true);
  });

  it('answers 502 when a streaming handler fails before writing, and cuts the stream when it fails later', async () => {
    const early = await fetch(`${base}/stream/fails-early`, { method: 'POST' });
    expect(early.status).toBe(502);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('internal');

    closeGate();
    const late = await fetch(`${base}/stream/fails-late`, { method: 'POST' });
    expect(late.status).toBe(201);
    const reader = (late.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    openGate();
    await expect(
      (async () => {
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          // drain
        }
      })(),
    ).rejects.toThrow();
  });
});
