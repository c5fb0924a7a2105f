import { describe, expect, it } from '@jest/globals';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { publicBaseUrlOf } from '../../functions/admin/channel-routes.ts';

// The webhook URL shown to admins: the configured public base URL, else the one the request came in on.

const event = (domainName: string, stage: string) =>
  ({ headers: {}, requestContext: { domainName, stage } }) as unknown as APIGatewayProxyEvent;

describe('publicBaseUrlOf', () => {
  it('prefers the configured URL, without a trailing slash', () => {
    expect(
      publicBaseUrlOf(event('abc.execute-api.eu-west-1.amazonaws.com', 'prod'), 'https://chat.example.com/'),
    ).toBe('https://chat.example.com');
  });

  it('keeps the stage on API Gateway’s own domain, and drops it on a custom domain', () => {
    expect(publicBaseUrlOf(event('abc.execute-api.eu-west-1.amazonaws.com', 'prod'), undefined)).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com/prod',
    );
    expect(publicBaseUrlOf(event('api.example.com', 'prod'), undefined)).toBe('https://api.example.com');
  });
});
