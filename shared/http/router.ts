import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { z } from 'zod';
import { NotFoundError } from '../domain/errors.ts';
import { ID_PATTERN, KEY_ID_PATTERN } from '../domain/ids.ts';
import { parseInput } from '../domain/validation.ts';
import { type RouteAuth, type RouteDefinition, routeKey } from '../resources.ts';
import { type AuthDeps, authenticate, type Principal } from './auth.ts';
import type { HttpResult } from './response.ts';

/** What one route accepts and answers: the source of its OpenAPI description. */
export interface RouteDoc<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType> {
  summary: string;
  body?: B;
  query?: Q;
  /** Status code → response schema (undefined for an empty body). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

/** A route served through the router: its description and what runs it (R: a streamed route's result). */
export interface RouteSpec<
  B extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  R extends HttpResult = APIGatewayProxyResult,
> extends RouteDoc<B, Q> {
  run(input: {
    principal: Principal;
    body: z.output<B>;
    query: z.output<Q>;
    params: Record<string, string>;
    event: APIGatewayProxyEvent;
  }): Promise<R>;
}

export const defineRoute = <
  B extends z.ZodType,
  Q extends z.ZodType,
  R extends HttpResult = APIGatewayProxyResult,
>(
  spec: RouteSpec<B, Q, R>,
) => spec as unknown as RouteSpec<z.ZodType, z.ZodType, R>;

/** A function's routes by `METHOD /resource`; a streaming function's answer StreamedResults. */
export type RouteTable<R extends HttpResult = APIGatewayProxyResult> = Record<
  string,
  RouteSpec<z.ZodType, z.ZodType, R>
>;

/** The shape of each id that appears in paths (shared/domain/ids.ts). */
const ID_SHAPES: Readonly<Record<string, RegExp>> = {
  tenantId: ID_PATTERN,
  botId: ID_PATTERN,
  documentId: ID_PATTERN,
  sessionId: ID_PATTERN,
  questionId: ID_PATTERN,
  evaluationId: ID_PATTERN,
  keyId: KEY_ID_PATTERN,
};

/** The tenant the caller acts for; routes declared `tenant` always have one. */
export function tenantOf(principal: Principal): string {
  if (principal.kind !== 'tenant') throw new Error('tenant route called without a tenant principal');
  return principal.tenantId;
}

/**
 * Dispatches on API Gateway's resource template (`GET /admin/bots/{botId}`), so routing is the
 * route table's, not a second copy of it. Authentication runs before the body is validated:
 * an unauthenticated caller learns nothing about a route's schema.
 */
export function createRouter<R extends HttpResult>(
  definitions: readonly RouteDefinition[],
  specs: RouteTable<R>,
  authDeps: () => AuthDeps,
): (event: APIGatewayProxyEvent) => Promise<R> {
  const auth = new Map<string, RouteAuth>(definitions.map((d) => [routeKey(d), d.auth]));
  for (const key of Object.keys(specs)) {
    if (!auth.has(key)) throw new Error(`Route ${key} has a handler but is not in the route table`);
  }
  return async (event) => {
    const key = routeKey({ method: event.httpMethod, path: event.resource });
    const spec = specs[key];
    const required = auth.get(key);
    if (!spec || !required) throw new NotFoundError(`No route for ${event.httpMethod} ${event.path}`);
    // Routes open to anyone (webhooks check their own secrets) need no key store at all.
    const principal =
      required === 'none'
        ? ({ kind: 'anonymous' } as const)
        : await authenticate(required, event.headers, authDeps());
    const body = spec.body ? parseInput(spec.body, event.body ?? undefined, 'body') : undefined;
    const query = spec.query
      ? parseInput(spec.query, event.queryStringParameters ?? {}, 'query', 'query')
      : undefined;
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
      if (value === undefined) continue;
      // An id that cannot be one is not looked up: 404 at once (a huge one would exceed DynamoDB's key size).
      const shape = ID_SHAPES[name];
      if (shape && !shape.test(value)) throw new NotFoundError(`No such ${name.replace(/Id$/, '')}`);
      params[name] = value;
    }
    return spec.run({ principal, body, query, params, event });
  };
}
