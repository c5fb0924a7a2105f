// Tracing as it runs in Lambda: with Lambda's environment (AWS_EXECUTION_ENV, LAMBDA_TASK_ROOT, the
// invocation's _X_AMZN_TRACE_ID), a traced AWS SDK client's call is sent to the X-Ray daemon as a
// subsegment of the invocation's trace. The daemon here is a UDP socket that reads what the X-Ray
// SDK sends (a JSON header line, then the segment document); the call goes through the real
// Bedrock client to the Bedrock wire server.

import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type BedrockWireServer, startBedrockServer } from '../support/wire/bedrock-server.ts';

const TRACE_ID = '1-6740c1d0-3b2f4c5d6e7f8091a2b3c4d5';
const PARENT_ID = '53995c3f42cd8ad8';

let daemon: Socket;
const documents: Record<string, unknown>[] = [];
let bedrock: BedrockWireServer;

beforeAll(async () => {
  daemon = createSocket('udp4');
  daemon.on('message', (packet) => {
    const [header, body] = packet.toString('utf8').split('\n');
    expect(JSON.parse(header ?? '{}')).toEqual({ format: 'json', version: 1 });
    documents.push(JSON.parse(body ?? '{}'));
  });
  await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve));
  bedrock = await startBedrockServer();
  Object.assign(process.env, {
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    LAMBDA_TASK_ROOT: '/var/task',
    AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${(daemon.address() as AddressInfo).port}`,
    _X_AMZN_TRACE_ID: `Root=${TRACE_ID};Parent=${PARENT_ID};Sampled=1`,
  });
});

afterAll(async () => {
  for (const name of [
    'AWS_EXECUTION_ENV',
    'LAMBDA_TASK_ROOT',
    'AWS_XRAY_DAEMON_ADDRESS',
    '_X_AMZN_TRACE_ID',
  ]) {
    delete process.env[name];
  }
  daemon.close();
  await bedrock.close();
});

describe('in Lambda', () => {
  it("sends each AWS SDK call as a subsegment of the invocation's trace", async () => {
    // Imported only now: the tracer reads Lambda's environment when it is created.
    const { tracer } = await import('../../shared/tracing.ts');
    const { createBedrockEmbedder, createBedrockRuntimeClient } = await import(
      '../../shared/adapters/embedders/bedrock.ts'
    );
    expect(tracer.isTracingEnabled()).toBe(true);
    const client = createBedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: bedrock.url,
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    try {
      await createBedrockEmbedder({ client, dimension: 256 }).embed(['how are traces sent?']);
    } finally {
      client.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    const call = documents.find(
      (d) => (d.aws as { operation?: string } | undefined)?.operation === 'InvokeModel',
    );
    expect(call).toMatchObject({
      trace_id: TRACE_ID,
      parent_id: PARENT_ID,
      type: 'subsegment',
      namespace: 'aws',
      aws: { operation: 'InvokeModel', region: 'us-east-1' },
      http: { response: { status: 200 } },
    });
    // The wire server saw the trace header the X-Ray SDK adds for the downstream service.
    expect(bedrock.requests.at(-1)?.headers['x-amzn-trace-id']).toContain(`Root=${TRACE_ID}`);
  });
});
