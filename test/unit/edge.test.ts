import { runInNewContext } from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type ChatFunctionDeps, callerOf, sourceIp } from '../../shared/http/chat-caller.ts';
import {
  EDGE_REQUEST_FUNCTION,
  FORWARDED_HOST_HEADER,
  ORIGIN_SECRET_HEADER,
  VIEWER_IP_HEADER,
  viewerOf,
} from '../../shared/http/edge.ts';

// Audit findings 7 and 12: behind CloudFront the caller's address and host arrive in headers, and
// the execute-api endpoint stays reachable directly, where a caller can send those headers itself.
// They count only with CloudFront's origin secret.

const SECRET = 'origin-secret-for-this-test-0123456789';
const EDGE_ADDRESS = '130.176.0.10'; // a CloudFront edge, as API Gateway sees it

function event(headers: Record<string, string>): APIGatewayProxyEvent {
  return {
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'x-forwarded-proto': 'https', ...headers },
    requestContext: { identity: { sourceIp: EDGE_ADDRESS } },
  } as unknown as APIGatewayProxyEvent;
}

/** Runs the CloudFront Function's code as CloudFront would: its `handler` on a viewer-request event. */
function runEdgeFunction(request: Record<string, unknown>, viewerIp: string) {
  const handler = runInNewContext(`${EDGE_REQUEST_FUNCTION}; handler`) as (e: unknown) => {
    headers: Record<string, { value: string }>;
  };
  return handler({
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: viewerIp },
    request,
  });
}

// The anonymous path of callerOf reads no repository: only the web origin and the origin secret.
const anonymousDeps = (originSecret?: string) => ({ originSecret }) as unknown as ChatFunctionDeps;

describe('the CloudFront Function on the API paths', () => {
  it('sets the viewer’s address and host, overwriting what the viewer sent under those names', () => {
    const request = runEdgeFunction(
      {
        method: 'POST',
        uri: '/chat/bot1',
        headers: {
          host: { value: 'd111.cloudfront.net' },
          [VIEWER_IP_HEADER]: { value: '10.0.0.1' },
          [FORWARDED_HOST_HEADER]: { value: 'evil.example' },
        },
      },
      '2001:db8::7',
    );
    expect(request.headers[VIEWER_IP_HEADER]).toEqual({ value: '2001:db8::7' });
    expect(request.headers[FORWARDED_HOST_HEADER]).toEqual({ value: 'd111.cloudfront.net' });
  });
});

describe('forwarded headers', () => {
  it('take the viewer’s address from the edge header when the origin secret is valid', () => {
    const through = event({ [ORIGIN_SECRET_HEADER]: SECRET, [VIEWER_IP_HEADER]: '203.0.113.9' });
    expect(sourceIp(through, SECRET)).toBe('203.0.113.9');
  });

  it('ignore a spoofed viewer address without the secret, with a wrong one, or with none configured', () => {
    const spoofed = { [VIEWER_IP_HEADER]: '203.0.113.9' };
    expect(sourceIp(event(spoofed), SECRET)).toBe(EDGE_ADDRESS);
    expect(sourceIp(event({ ...spoofed, [ORIGIN_SECRET_HEADER]: `${SECRET}x` }), SECRET)).toBe(EDGE_ADDRESS);
    expect(sourceIp(event({ ...spoofed, [ORIGIN_SECRET_HEADER]: '' }), undefined)).toBe(EDGE_ADDRESS);
  });

  it('trust x-forwarded-host for the web app’s own origin only with the secret', async () => {
    const headers = { origin: 'https://evil.example', [FORWARDED_HOST_HEADER]: 'evil.example' };
    const spoofed = await callerOf(anonymousDeps(SECRET), event(headers));
    expect(spoofed).toEqual({ kind: 'anonymous', origin: 'https://evil.example' });

    const pages = { origin: 'https://d111.cloudfront.net', [FORWARDED_HOST_HEADER]: 'd111.cloudfront.net' };
    const through = await callerOf(
      anonymousDeps(SECRET),
      event({ ...pages, [ORIGIN_SECRET_HEADER]: SECRET }),
    );
    expect(through).toMatchObject({ kind: 'anonymous', webApp: true });
  });

  it('without the secret, the origin the request was made to is its Host, by https or http', () => {
    const local = event({
      host: '127.0.0.1:3000',
      'x-forwarded-proto': 'https',
      [FORWARDED_HOST_HEADER]: 'x.example',
    });
    expect(viewerOf(local, undefined)).toEqual({
      host: '127.0.0.1:3000',
      schemes: ['https', 'http'],
      ip: EDGE_ADDRESS,
    });
  });
});
