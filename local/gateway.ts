// The local stand-in for API Gateway (REST API, Lambda proxy integration, payload format 1.0):
// matches requests against the route table, builds the proxy event, invokes the function in this
// process and writes its result. API Gateway's own answers (no route, body too large, a failing
// or slow function) use the project's error envelope, as the stack's Gateway Responses do.

import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { ErrorCode } from '../shared/domain/errors.ts';
import { gatewayResponses } from '../shared/gateway-responses.ts';
import { errorResponse } from '../shared/http/response.ts';
import { API_BINARY_MEDIA_TYPES, API_MAX_BODY_BYTES } from '../shared/resources.ts';
import { LOCAL_ACCOUNT_ID } from './aws.ts';
import { type AwsCalls, callsTo, countAwsCalls, describeCalls } from './aws-calls.ts';
import { keepConnectionsLonger } from './keep-alive.ts';
import {
  type FunctionHost,
  type InvokeOutcome,
  LocalResponseStream,
  type ResponseHead,
  type ResponseSink,
} from './lambda.ts';
import { createLogger, type Logger } from './log.ts';
import { LOOPBACK, PortInUseError } from './ports.ts';
import type { WebResponse } from './web.ts';

/** A route as the gateway needs it (shared/resources.ts RouteDefinition has it). */
export interface LocalRoute {
  readonly method: string;
  /** API Gateway resource path: `{name}` segments are path parameters, `{name+}` takes the rest. */
  readonly path: string;
  readonly function: string;
}

export interface GatewayOptions {
  readonly routes: readonly LocalRoute[];
  readonly stage?: string;
  readonly logger?: Logger;
  readonly maxBodyBytes?: number;
  readonly binaryMediaTypes?: readonly string[];
  /** API Gateway ends buffered integrations after 29 s whatever the function's timeout. */
  readonly integrationTimeoutMs?: number;
  /**
   * Serves `PUT /_local/clock` (`{"offsetSeconds": n}`), which moves the functions' clock
   * (shared/wiring/clock.ts). For tests only: `PARLEY_TEST_HOOKS=1`. API Gateway has no such route.
   */
  readonly testHooks?: boolean;
  /** The web app's files (local/web.ts), served for GETs that match no API route. */
  readonly web?: (path: string) => WebResponse | undefined;
}

/** Lambda refuses synchronous invocation payloads and buffered responses above this (6 MB). */
export const LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;
export const API_INTEGRATION_TIMEOUT_MS = 29_000;
/** After a 413, how much more of the body is read and dropped before the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;
const CLOCK_HOOK_PATH = '/_local/clock';

// ---------------------------------------------------------------------------------------------
// API Gateway's own answers: the same codes, messages and statuses as the stack's Gateway Responses

interface GatewayAnswer {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
}

/** The answer of a Gateway Response type; `status` is API Gateway's own for types that keep it. */
function gatewayAnswer(type: string, status?: number): GatewayAnswer {
  const response = gatewayResponses.find((candidate) => candidate.type === type);
  if (!response) throw new Error(`No Gateway Response of type ${type}`);
  return {
    status: response.statusCode ?? status ?? 500,
    code: response.code as ErrorCode,
    message: response.message ?? 'Internal server error',
  };
}

const NOT_FOUND = gatewayAnswer('MISSING_AUTHENTICATION_TOKEN');
const TOO_LARGE = gatewayAnswer('REQUEST_TOO_LARGE');
/**
 * Local only: a body under API Gateway's 10 MB but over what a function accepts (Lambda's 6 MB
 * invocation payload). AWS would answer 502; locally the caller learns what was wrong.
 */
const TOO_LARGE_FOR_FUNCTION: GatewayAnswer = {
  status: 413,
  code: 'payload_too_large',
  message: `Request body is larger than the ${LAMBDA_PAYLOAD_LIMIT_BYTES / 1024 / 1024} MB a function accepts`,
};
/** A function that failed, answered malformed, or broke Lambda's payload limits: API Gateway's 502. */
const BAD_GATEWAY = gatewayAnswer('DEFAULT_5XX', 502);
const TIMED_OUT = gatewayAnswer('DEFAULT_5XX', 504);
const GATEWAY_FAILURE = gatewayAnswer('DEFAULT_5XX', 500);
/** Local only: the gateway holds its port before the functions are ready. */
const STARTING: GatewayAnswer = {
  status: 503,
  code: 'internal',
  message: 'Parley is starting; try again in a moment',
};
/** The stack's Gateway Responses carry this header. */
const GATEWAY_RESPONSE_HEADERS = { 'Access-Control-Allow-Origin': '*' };

// ---------------------------------------------------------------------------------------------
// Route matching

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'greedy'; name: string };

interface CompiledResource {
  readonly path: string;
  /** The event's `resourceId`, worked out once (hashing it per request showed in profiles). */
  readonly id: string;
  readonly segments: Segment[];
  readonly methods: Map<string, LocalRoute>;
}

const resourceId = (path: string) => createHash('sha256').update(path).digest('hex').slice(0, 6);

const splitPath = (path: string) => path.split('/').filter((segment) => segment !== '');

function compile(routes: readonly LocalRoute[]): CompiledResource[] {
  const byPath = new Map<string, CompiledResource>();
  for (const route of routes) {
    let resource = byPath.get(route.path);
    if (!resource) {
      const segments = splitPath(route.path).map((segment): Segment => {
        const param = /^\{([^}+]+)(\+?)\}$/.exec(segment);
        if (!param?.[1]) return { kind: 'literal', value: segment };
        return param[2] ? { kind: 'greedy', name: param[1] } : { kind: 'param', name: param[1] };
      });
      resource = { path: route.path, id: resourceId(route.path), segments, methods: new Map() };
      byPath.set(route.path, resource);
    }
    resource.methods.set(route.method.toUpperCase(), route);
  }
  return [...byPath.values()];
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Ranks a match: at the first differing segment a literal beats a parameter, which beats a greedy one. */
function matchResource(
  resource: CompiledResource,
  parts: string[],
): { params: Record<string, string>; rank: number[] } | undefined {
  const params: Record<string, string> = {};
  const rank: number[] = [];
  for (let i = 0; i < resource.segments.length; i++) {
    const segment = resource.segments[i] as Segment;
    if (segment.kind === 'greedy') {
      if (i >= parts.length) return undefined;
      params[segment.name] = safeDecode(parts.slice(i).join('/'));
      rank.push(0);
      return { params, rank };
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.kind === 'literal') {
      if (safeDecode(part) !== segment.value) return undefined;
      rank.push(2);
    } else {
      params[segment.name] = safeDecode(part);
      rank.push(1);
    }
  }
  return parts.length === resource.segments.length ? { params, rank } : undefined;
}

function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (b[i] ?? -1) - (a[i] ?? -1);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The most specific resource matching the path (API Gateway's choice), then the method on it. */
function findRoute(
  resources: CompiledResource[],
  method: string,
  path: string,
): { route: LocalRoute; resource: CompiledResource; params: Record<string, string> } | undefined {
  const parts = splitPath(path);
  let best: { resource: CompiledResource; params: Record<string, string>; rank: number[] } | undefined;
  for (const resource of resources) {
    const match = matchResource(resource, parts);
    if (match && (!best || compareRank(match.rank, best.rank) < 0)) best = { resource, ...match };
  }
  const route = best?.resource.methods.get(method);
  return best && route ? { route, resource: best.resource, params: best.params } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Event building

function parseQuery(search: string): {
  single: Record<string, string> | null;
  multi: Record<string, string[]> | null;
} {
  if (!search) return { single: null, multi: null };
  // A Map, then own properties: a client's `constructor` or `__proto__` is just another name.
  const lists = new Map<string, string[]>();
  for (const pair of search.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = safeDecode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : safeDecode(pair.slice(eq + 1));
    lists.set(key, [...(lists.get(key) ?? []), value]);
  }
  if (lists.size === 0) return { single: null, multi: null };
  return {
    single: Object.fromEntries([...lists].map(([key, values]) => [key, values.at(-1) ?? ''])),
    multi: Object.fromEntries(lists),
  };
}

/** Header names as the client sent them; for repeated headers `headers` keeps the last value. */
function collectHeaders(rawHeaders: string[]): {
  headers: Record<string, string>;
  multi: Record<string, string[]>;
} {
  const names = new Map<string, string>();
  // A Map, then own properties: a header named `constructor` or `__proto__` is just a header.
  const lists = new Map<string, string[]>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    const lower = raw.toLowerCase();
    const name = names.get(lower) ?? raw;
    names.set(lower, name);
    lists.set(name, [...(lists.get(name) ?? []), value]);
  }
  return {
    headers: Object.fromEntries([...lists].map(([name, values]) => [name, values.at(-1) ?? ''])),
    multi: Object.fromEntries(lists),
  };
}

function addHeaderIfMissing(
  target: { headers: Record<string, string>; multi: Record<string, string[]> },
  name: string,
  value: string,
) {
  if (Object.keys(target.headers).some((existing) => existing.toLowerCase() === name.toLowerCase())) return;
  target.headers[name] = value;
  target.multi[name] = [value];
}

export function isBinaryMediaType(
  contentType: string | undefined,
  binaryMediaTypes: readonly string[],
): boolean {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return binaryMediaTypes.some((pattern) => {
    const p = pattern.toLowerCase();
    if (p === '*/*') return true;
    if (!type) return false;
    if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
    return type === p;
  });
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** API Gateway's `requestTime` format: `09/Apr/2015:12:34:56 +0000`. */
function requestTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(
    date.getUTCMinutes(),
  )}:${pad(date.getUTCSeconds())} +0000`;
}

// ---------------------------------------------------------------------------------------------
// The gateway

interface Timing {
  readonly started: number;
  /** Loading the function's module (a cold start). */
  initMs: number;
  handlerMs: number;
  /** The AWS calls the invocation made (counted for DynamoDB and SQS). */
  readonly awsCalls: AwsCalls;
}

export class Gateway {
  private readonly resources: CompiledResource[];
  private readonly logger: Logger;
  private readonly stage: string;
  private readonly maxBodyBytes: number;
  private readonly binaryMediaTypes: readonly string[];
  private readonly integrationTimeoutMs: number;
  private readonly testHooks: boolean;
  private readonly web: GatewayOptions['web'];
  private readonly server: Server;
  private functions: FunctionHost | undefined;
  private boundPort: number | undefined;

  constructor(options: GatewayOptions) {
    this.resources = compile(options.routes);
    this.logger = options.logger ?? createLogger({ level: 'SILENT' });
    this.stage = options.stage ?? 'local';
    this.maxBodyBytes = options.maxBodyBytes ?? API_MAX_BODY_BYTES;
    this.binaryMediaTypes = options.binaryMediaTypes ?? API_BINARY_MEDIA_TYPES;
    this.integrationTimeoutMs = options.integrationTimeoutMs ?? API_INTEGRATION_TIMEOUT_MS;
    this.testHooks = options.testHooks ?? false;
    this.web = options.web;
    this.server = createServer({ noDelay: true }, (req, res) => {
      // One id for the request's answer and its log lines, failures of the gateway's own included.
      const requestId = randomUUID();
      this.handle(req, res, requestId).catch((error: unknown) => {
        this.logger.error('gateway failure', { error, requestId });
        if (!res.headersSent) this.sendError(res, GATEWAY_FAILURE, requestId, undefined);
        else res.destroy();
      });
    });
    keepConnectionsLonger(this.server);
  }

  /** Functions are attached once the platform is ready; until then requests get a 503. */
  attach(functions: FunctionHost): void {
    this.functions = functions;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('The gateway is not listening');
    return this.boundPort;
  }

  get url(): string {
    return `http://${LOOPBACK}:${this.port}`;
  }

  /** Binds 127.0.0.1:`port` (0: any free port); a taken port is a PortInUseError. */
  listen(port: number, host = LOOPBACK): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        reject(error.code === 'EADDRINUSE' ? new PortInUseError(port) : error);
      };
      const onListening = () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve(this.boundPort);
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen({ port, host, exclusive: true });
    });
  }

  /** Stops accepting connections; open ones get `graceMs` to finish, then are closed. */
  async close(graceMs = 2000): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  /** The test hook behind `PUT /_local/clock`: sets the offset every function's clock reads. */
  private async moveClock(req: IncomingMessage, res: ServerResponse, method: string): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (method !== 'PUT') {
      req.resume();
      return reply(405, { error: { code: 'method_not_allowed', message: 'PUT {"offsetSeconds": n}' } });
    }
    let offset: unknown;
    try {
      offset = JSON.parse(Buffer.concat(await req.toArray()).toString('utf8')).offsetSeconds;
    } catch {
      offset = undefined;
    }
    if (typeof offset !== 'number' || !Number.isFinite(offset)) {
      return reply(400, { error: { code: 'validation_failed', message: 'offsetSeconds must be a number' } });
    }
    process.env.CLOCK_OFFSET_SECONDS = String(offset);
    this.logger.info('clock moved', { offsetSeconds: offset });
    reply(200, { offsetSeconds: offset });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const timing: Timing = { started: performance.now(), initMs: 0, handlerMs: 0, awsCalls: new Map() };
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const queryIndex = rawUrl.indexOf('?');
    const path = queryIndex === -1 ? rawUrl : rawUrl.slice(0, queryIndex);
    const search = queryIndex === -1 ? '' : rawUrl.slice(queryIndex + 1);
    res.on('finish', () => this.logAccess(method, path, res.statusCode, requestId, timing));

    const functions = this.functions;
    if (!functions) {
      req.resume();
      return this.sendError(res, STARTING, requestId, timing, { 'Retry-After': '1' });
    }

    if (this.testHooks && path === CLOCK_HOOK_PATH) return this.moveClock(req, res, method);

    const match = findRoute(this.resources, method, path);
    const page = !match && (method === 'GET' || method === 'HEAD') ? this.web?.(path) : undefined;
    if (page) {
      req.resume();
      res.writeHead(page.status, page.headers);
      res.end(method === 'HEAD' ? undefined : page.body);
      return;
    }
    if (!match) {
      req.resume();
      this.logger.debug('no route', { method, path, requestId });
      return this.sendError(res, NOT_FOUND, requestId, timing);
    }

    const body = await this.readBody(req, res, requestId, timing);
    if (body === undefined) return;

    const event = this.buildEvent(req, method, path, search, match.resource, match.params, body, requestId);
    // Only a large body can push the event over the limit; small requests skip the measuring.
    // (A body just under 6 MB can still make an event over it: base64, headers.)
    if (body.length > 1024 * 1024 && Buffer.byteLength(JSON.stringify(event)) > LAMBDA_PAYLOAD_LIMIT_BYTES) {
      this.logger.warn('the event exceeds Lambda’s 6 MB invocation payload limit', {
        requestId,
        bytes: body.length,
      });
      return this.sendError(res, TOO_LARGE_FOR_FUNCTION, requestId, timing);
    }

    const functionName = match.route.function;
    let streaming: boolean;
    const loading = performance.now();
    try {
      streaming = await functions.isStreaming(functionName);
      timing.initMs = performance.now() - loading;
    } catch (error) {
      this.logger.error('could not load the function', { function: functionName, requestId, error });
      return this.sendError(res, BAD_GATEWAY, requestId, timing);
    }
    if (streaming) return this.invokeStreaming(functions, functionName, event, res, requestId, timing);

    const timeoutMs = Math.min(
      functions.definition(functionName).timeoutSeconds * 1000,
      this.integrationTimeoutMs,
    );
    const outcome = await countAwsCalls(timing.awsCalls, () =>
      functions.invoke<unknown>(functionName, event, { timeoutMs }),
    );
    timing.handlerMs = outcome.durationMs;
    this.writeBuffered(res, outcome, functionName, requestId, timing);
  }

  /**
   * Reads the body up to what a function can be handed (API Gateway's limit, and Lambda's 6 MB
   * below it); over it, answers 413 and keeps nothing more.
   */
  private readBody(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    timing: Timing,
  ): Promise<Buffer | undefined> {
    const tooLarge = (answer: GatewayAnswer) => {
      this.sendError(res, answer, requestId, timing);
      // The answer goes out at once and nothing more is kept. The rest of the body is read and
      // dropped, up to a bound, and the connection stays open meanwhile: clients such as fetch
      // report a connection closed under an upload as a network error instead of the 413.
      let dropped = 0;
      const cut = setTimeout(() => req.socket.destroy(), DRAIN_TIMEOUT_MS);
      cut.unref();
      req.on('data', (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > DRAIN_LIMIT_BYTES) req.socket.destroy();
      });
      req.once('end', () => clearTimeout(cut));
      req.once('close', () => clearTimeout(cut));
      req.resume();
    };
    const readLimit = Math.min(this.maxBodyBytes, LAMBDA_PAYLOAD_LIMIT_BYTES);
    const answerOver = this.maxBodyBytes <= readLimit ? TOO_LARGE : TOO_LARGE_FOR_FUNCTION;
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > readLimit) {
      tooLarge(declared > this.maxBodyBytes ? TOO_LARGE : answerOver);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > readLimit) {
          done = true;
          req.off('data', onData);
          chunks.length = 0;
          tooLarge(answerOver);
          resolve(undefined);
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => {
        if (!done) resolve(Buffer.concat(chunks, size));
      });
      req.once('error', (error) => {
        if (!done) reject(error);
      });
    });
  }

  private buildEvent(
    req: IncomingMessage,
    method: string,
    path: string,
    search: string,
    resource: CompiledResource,
    pathParameters: Record<string, string>,
    body: Buffer,
    requestId: string,
  ): APIGatewayProxyEvent {
    const headerSets = collectHeaders(req.rawHeaders);
    const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
    const port = req.socket.localPort ?? this.boundPort ?? 0;
    addHeaderIfMissing(headerSets, 'X-Forwarded-For', sourceIp);
    addHeaderIfMissing(headerSets, 'X-Forwarded-Port', String(port));
    addHeaderIfMissing(headerSets, 'X-Forwarded-Proto', 'http');
    addHeaderIfMissing(
      headerSets,
      'X-Amzn-Trace-Id',
      `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    );
    const query = parseQuery(search);
    const contentType = req.headers['content-type'];
    const binary = isBinaryMediaType(contentType, this.binaryMediaTypes);
    const now = new Date();
    const host = req.headers.host ?? `${LOOPBACK}:${port}`;
    const resourcePath = resource.path;
    return {
      resource: resourcePath,
      path,
      httpMethod: method,
      headers: headerSets.headers,
      multiValueHeaders: headerSets.multi,
      queryStringParameters: query.single,
      multiValueQueryStringParameters: query.multi,
      pathParameters: Object.keys(pathParameters).length ? pathParameters : null,
      stageVariables: null,
      requestContext: {
        accountId: LOCAL_ACCOUNT_ID,
        apiId: 'local',
        authorizer: undefined,
        domainName: host,
        domainPrefix: host.split(/[.:]/)[0],
        extendedRequestId: requestId,
        httpMethod: method,
        identity: {
          accessKey: null,
          accountId: null,
          apiKey: null,
          apiKeyId: null,
          caller: null,
          clientCert: null,
          cognitoAuthenticationProvider: null,
          cognitoAuthenticationType: null,
          cognitoIdentityId: null,
          cognitoIdentityPoolId: null,
          principalOrgId: null,
          sourceIp,
          user: null,
          userAgent: req.headers['user-agent'] ?? null,
          userArn: null,
        },
        path: `/${this.stage}${path}`,
        protocol: `HTTP/${req.httpVersion}`,
        requestId,
        requestTime: requestTime(now),
        requestTimeEpoch: now.getTime(),
        resourceId: resource.id,
        resourcePath,
        stage: this.stage,
      },
      body: body.length === 0 ? null : binary ? body.toString('base64') : body.toString('utf8'),
      isBase64Encoded: body.length > 0 && binary,
    };
  }

  private writeBuffered(
    res: ServerResponse,
    outcome: InvokeOutcome<unknown>,
    functionName: string,
    requestId: string,
    timing: Timing,
  ): void {
    if (outcome.status === 'timeout') {
      this.sendError(res, TIMED_OUT, requestId, timing);
      return;
    }
    if (outcome.status === 'error') {
      this.logger.error('function failed', { function: functionName, requestId, error: outcome.error });
      this.sendError(res, BAD_GATEWAY, requestId, timing);
      return;
    }
    const problem = malformed(outcome.value);
    if (problem) {
      this.logger.error(`malformed Lambda proxy response: ${problem}`, { function: functionName, requestId });
      this.sendError(res, BAD_GATEWAY, requestId, timing);
      return;
    }
    const result = outcome.value as APIGatewayProxyResult;
    const body =
      result.body === undefined || result.body === null
        ? Buffer.alloc(0)
        : result.isBase64Encoded
          ? Buffer.from(result.body, 'base64')
          : Buffer.from(result.body, 'utf8');
    if (Buffer.byteLength(result.body ?? '') > LAMBDA_PAYLOAD_LIMIT_BYTES) {
      this.logger.error('the response exceeds Lambda’s 6 MB payload limit', {
        function: functionName,
        requestId,
      });
      this.sendError(res, BAD_GATEWAY, requestId, timing);
      return;
    }
    const headers = mergeResultHeaders(result.headers, result.multiValueHeaders);
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
      // API Gateway's default for proxy responses without one.
      headers['Content-Type'] = ['application/json'];
    }
    this.writeHead(res, result.statusCode, headers, requestId, timing);
    res.end(body);
  }

  /** Where a streaming handler's response goes: the HTTP response, until the exchange is over. */
  private streamSink(
    res: ServerResponse,
    requestId: string,
    timing: Timing,
    state: { finished: boolean },
  ): ResponseSink {
    const invokeStarted = performance.now();
    return {
      head: (head: ResponseHead) => {
        if (state.finished) return;
        const headers = mergeResultHeaders(head.headers, head.multiValueHeaders);
        if (head.cookies.length) headers['Set-Cookie'] = [...(headers['Set-Cookie'] ?? []), ...head.cookies];
        // Until the first byte: the rest of the handler's time is not known when headers go out.
        timing.handlerMs = performance.now() - invokeStarted;
        this.writeHead(res, head.statusCode, headers, requestId, timing);
        res.flushHeaders();
      },
      write: (chunk, done) => {
        if (state.finished || res.destroyed) return done();
        if (res.write(chunk)) return done();
        const resume = () => {
          res.off('drain', resume);
          res.off('close', resume);
          done();
        };
        res.once('drain', resume);
        res.once('close', resume);
      },
      end: () => {
        if (!state.finished) res.end();
        state.finished = true;
      },
    };
  }

  private invokeStreaming(
    functions: FunctionHost,
    functionName: string,
    event: APIGatewayProxyEvent,
    res: ServerResponse,
    requestId: string,
    timing: Timing,
  ): Promise<void> {
    const state = { finished: false };
    const stream = new LocalResponseStream(this.streamSink(res, requestId, timing, state));
    // A handler that fails after the response has started cannot change its status: the
    // connection is cut, as API Gateway does with a broken stream.
    const fail = (answer: GatewayAnswer) => {
      if (state.finished) return;
      if (!stream.committed) {
        state.finished = true;
        this.sendError(res, answer, requestId, timing);
      } else {
        state.finished = true;
        res.destroy();
      }
    };
    // A client that leaves mid-stream destroys the handler's stream, which tells the handler
    // (chat-stream stops its model call). Lambda has no such signal; this is the local bonus.
    let clientLeft = false;
    res.once('close', () => {
      if (!res.writableEnded && !stream.destroyed) {
        clientLeft = true;
        stream.destroy();
      }
      state.finished = true;
    });
    stream.on('error', (error) => this.logger.warn('response stream error', { requestId, error }));
    const invocation = countAwsCalls(timing.awsCalls, () =>
      functions.invokeStreaming(functionName, event, stream),
    );
    return invocation.then((outcome) => {
      timing.handlerMs = outcome.durationMs;
      if (outcome.status === 'ok') {
        if (!stream.writableEnded) stream.end();
      } else if (outcome.status === 'timeout') {
        fail(TIMED_OUT);
      } else if (clientLeft) {
        // Writing to the stream its client left fails the handler (a pipeline ends with a premature
        // close): that is the client's doing, not the function's.
        this.logger.info('the client left mid-stream', {
          function: functionName,
          requestId,
          error: outcome.error,
        });
      } else {
        this.logger.error('function failed', { function: functionName, requestId, error: outcome.error });
        fail(BAD_GATEWAY);
      }
    });
  }

  private writeHead(
    res: ServerResponse,
    statusCode: number,
    headers: Record<string, string[]>,
    requestId: string,
    timing: Timing | undefined,
  ) {
    for (const [name, values] of Object.entries(headers)) {
      res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
    }
    res.setHeader('x-amzn-RequestId', requestId);
    if (!res.hasHeader('x-request-id')) res.setHeader('x-request-id', requestId);
    if (timing) {
      // The benchmark reads the gateway's own overhead from here: total minus handler (and cold start).
      const total = performance.now() - timing.started;
      const handler = Math.min(timing.handlerMs, total);
      const init = Math.min(timing.initMs, total - handler);
      const parts = [`handler;dur=${handler.toFixed(2)}`];
      if (init >= 0.5) parts.push(`init;dur=${init.toFixed(2)}`);
      parts.push(`gateway;dur=${Math.max(0, total - handler - init).toFixed(2)}`);
      // Calls made so far: all of a buffered response's, those before the first byte of a stream's.
      for (const service of ['DynamoDB', 'SQS']) {
        if (callsTo(timing.awsCalls, service) > 0)
          parts.push(`${service.toLowerCase()};desc="${describeCalls(timing.awsCalls, service)}"`);
      }
      res.setHeader('Server-Timing', parts.join(', '));
    }
    res.statusCode = statusCode;
  }

  private sendError(
    res: ServerResponse,
    answer: GatewayAnswer,
    requestId: string,
    timing: Timing | undefined,
    extraHeaders: Record<string, string> = {},
  ): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const response = errorResponse(
      answer.status,
      { code: answer.code, message: answer.message, requestId },
      { ...GATEWAY_RESPONSE_HEADERS, ...extraHeaders },
    );
    this.writeHead(res, answer.status, mergeResultHeaders(response.headers, undefined), requestId, timing);
    res.end(response.body);
  }

  private logAccess(method: string, path: string, status: number, requestId: string, timing: Timing) {
    const total = performance.now() - timing.started;
    this.logger.info(`${method} ${path} ${status}`, {
      ms: Number(total.toFixed(1)),
      handlerMs: Number(timing.handlerMs.toFixed(1)),
      initMs: timing.initMs >= 0.5 ? Number(timing.initMs.toFixed(1)) : undefined,
      awsCalls: timing.awsCalls.size ? Object.fromEntries(timing.awsCalls) : undefined,
      requestId,
    });
  }
}

/** Why a function's result is not a valid proxy response (API Gateway answers 502), if it is not. */
function malformed(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return 'the result is not an object';
  const result = value as Record<string, unknown>;
  const status = result.statusCode;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    return 'statusCode must be an integer from 100 to 599';
  }
  if (result.body !== undefined && result.body !== null && typeof result.body !== 'string') {
    return 'body must be a string';
  }
  if (result.isBase64Encoded !== undefined && typeof result.isBase64Encoded !== 'boolean') {
    return 'isBase64Encoded must be a boolean';
  }
  if (result.headers !== undefined && result.headers !== null) {
    if (typeof result.headers !== 'object') return 'headers must be an object';
    for (const item of Object.values(result.headers)) {
      if (!['string', 'number', 'boolean'].includes(typeof item)) return 'header values must be scalars';
    }
  }
  if (result.multiValueHeaders !== undefined && result.multiValueHeaders !== null) {
    if (typeof result.multiValueHeaders !== 'object') return 'multiValueHeaders must be an object';
    for (const items of Object.values(result.multiValueHeaders)) {
      if (!Array.isArray(items)) return 'multiValueHeaders values must be arrays';
    }
  }
  const known = new Set(['statusCode', 'headers', 'multiValueHeaders', 'body', 'isBase64Encoded']);
  const unknown = Object.keys(result).find((key) => !known.has(key));
  return unknown ? `unexpected field ${unknown}` : undefined;
}

/** API Gateway's merge of `headers` and `multiValueHeaders` (values of both are kept). */
function mergeResultHeaders(
  headers: Record<string, unknown> | undefined | null,
  multiValueHeaders: Record<string, unknown[]> | undefined | null,
): Record<string, string[]> {
  const merged = new Map<string, { name: string; values: string[] }>();
  const add = (name: string, value: unknown) => {
    const entry = merged.get(name.toLowerCase()) ?? { name, values: [] };
    entry.values.push(String(value));
    merged.set(name.toLowerCase(), entry);
  };
  for (const [name, values] of Object.entries(multiValueHeaders ?? {}))
    for (const value of values) add(name, value);
  for (const [name, value] of Object.entries(headers ?? {})) {
    const existing = merged.get(name.toLowerCase());
    if (existing?.values.includes(String(value))) continue;
    add(name, value);
  }
  const out: Record<string, string[]> = {};
  for (const { name, values } of merged.values()) out[name] = values;
  return out;
}
