import { createHash, timingSafeEqual } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';

// The edge in AWS is CloudFront (lib/constructs/web.ts). The headers it adds mean something only
// when the request really came through it: the execute-api endpoint stays reachable directly, and
// a caller there can send any header. CloudFront proves itself with a secret origin header (the
// WAF blocks requests without it, and the functions check it again here); without that proof,
// forwarded headers are ignored. Plain data and functions, no CDK: the stack and the runtime share
// the names.

/** The header CloudFront adds to every request it sends the API (a custom origin header). */
export const ORIGIN_SECRET_HEADER = 'x-parley-origin-secret';
/** The chat functions' environment variable holding that secret (unset on the local platform). */
export const ORIGIN_SECRET_ENV = 'ORIGIN_SECRET';
/** The viewer's address (no port: CloudFront-Viewer-Address carries one), set by the edge function. */
export const VIEWER_IP_HEADER = 'x-parley-viewer-ip';
/** The viewer's Host, set by the edge function (CloudFront sends API Gateway its own host). */
export const FORWARDED_HOST_HEADER = 'x-forwarded-host';

/**
 * The CloudFront Function (JS 2.0, viewer request) on the API's paths. It overwrites whatever the
 * viewer sent under these names, so a viewer cannot choose them.
 */
export const EDGE_REQUEST_FUNCTION = `function handler(event) {
  var r = event.request;
  r.headers['${FORWARDED_HOST_HEADER}'] = { value: r.headers.host ? r.headers.host.value : '' };
  r.headers['${VIEWER_IP_HEADER}'] = { value: event.viewer.ip };
  return r;
}`;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Whether the request carries the origin secret (compared in constant time). */
export function fromEdge(event: APIGatewayProxyEvent, originSecret: string | undefined): boolean {
  const sent = event.headers?.[ORIGIN_SECRET_HEADER];
  if (!originSecret || !sent) return false;
  return timingSafeEqual(digest(sent), digest(originSecret));
}

/** Who the viewer is and which host it asked for, from headers only where they can be trusted. */
export interface Viewer {
  /** The host the viewer's request was made to. */
  readonly host: string | undefined;
  /** The schemes that host may have been reached with. */
  readonly schemes: readonly string[];
  /** The viewer's address: the edge's header through CloudFront, else the connection's. */
  readonly ip: string;
}

/**
 * The viewer of a request. Through CloudFront (the secret matches): the edge's host and address
 * headers, and API Gateway's X-Forwarded-Proto. Otherwise the connection itself: its Host, and its
 * own address; the scheme is then unknown (https on API Gateway, http on the local platform).
 */
export function viewerOf(event: APIGatewayProxyEvent, originSecret: string | undefined): Viewer {
  const headers = event.headers ?? {};
  const connectionIp = event.requestContext?.identity?.sourceIp ?? 'unknown';
  if (fromEdge(event, originSecret)) {
    return {
      host: headers[FORWARDED_HOST_HEADER] || headers.host,
      schemes: [headers['x-forwarded-proto'] || 'https'],
      ip: headers[VIEWER_IP_HEADER] || connectionIp,
    };
  }
  return { host: headers.host, schemes: ['https', 'http'], ip: connectionIp };
}
