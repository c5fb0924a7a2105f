import type { Readable } from 'node:stream';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { ErrorCode } from '../domain/errors.ts';

/**
 * A response whose body is streamed (Lambda response streaming): status and headers go out first,
 * then the body as it is read.
 */
export interface StreamedResult extends Omit<APIGatewayProxyResult, 'body'> {
  body: Readable;
}

/** What an HTTP function answers: a buffered result, or (a streaming function) a streamed one. */
export type HttpResult = APIGatewayProxyResult | StreamedResult;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export const noContent = (): APIGatewayProxyResult => ({
  statusCode: 204,
  headers: { 'cache-control': 'no-store' },
  body: '',
});

/** The one error envelope of the API (DESIGN.md §5); API Gateway's own responses use it too. */
export function errorResponse(
  statusCode: number,
  error: { code: ErrorCode; message: string; details?: unknown; requestId: string },
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return json(statusCode, { error }, headers);
}
