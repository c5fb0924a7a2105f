// Runs the project's Lambda handlers in this process the way the Node.js Lambda runtime does:
// the `awslambda` globals for response streaming, a Lambda context per invocation, the function's
// timeout, and each handler module loaded once, on first use.

import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes, randomUUID } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { type Endpoints, LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION } from './aws.ts';
import { createLogger, type Logger } from './log.ts';
import type { Provisioned } from './provision.ts';

/** What the local runtime needs of a function definition (shared/resources.ts FunctionDefinition has it). */
export interface LocalFunctionDefinition {
  /** Module path relative to the repository root (or absolute), exporting `handler`. */
  readonly entry: string;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly streaming: boolean;
  readonly consumes?: { readonly queue: string; readonly batchSize: number; readonly maxConcurrency: number };
  readonly schedule?: { readonly rateMinutes: number };
}

// ---------------------------------------------------------------------------------------------
// The awslambda globals

/** The symbols the Node.js Lambda runtime uses to mark a streamified handler. */
export const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
export const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
export const STREAM_RESPONSE = 'response';
/** The content type with which HttpResponseStream.from marks a stream that starts with a metadata prelude. */
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

export interface ResponseHead {
  statusCode: number;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  cookies: string[];
}

/** Where a streamed response goes: the local gateway writes it to the HTTP response. */
export interface ResponseSink {
  head(head: ResponseHead): void;
  write(chunk: Buffer, done: (error?: Error | null) => void): void;
  end(): void;
}

/**
 * Marks a LocalResponseStream. A registered symbol, not instanceof: the `awslambda` global may hold
 * another module instance's HttpResponseStream (jest gives each test file its own module registry).
 */
const RESPONSE_STREAM = Symbol.for('parley.local.responseStream');

interface BrandedResponseStream extends Writable {
  setContentType(contentType: string): void;
  setPrelude(prelude: Record<string, unknown>): void;
}

const isResponseStream = (writable: Writable): writable is BrandedResponseStream =>
  (writable as unknown as Record<symbol, unknown>)[RESPONSE_STREAM] === true;

class HttpResponseStream extends Writable {
  /**
   * Like Lambda's: attaches the HTTP status and headers to the response stream the handler was
   * given; they are sent before the first byte of the body.
   */
  static from(writable: Writable, metadata: Record<string, unknown>): Writable {
    if (!isResponseStream(writable)) {
      throw new TypeError('HttpResponseStream.from expects the response stream passed to the handler');
    }
    writable.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
    writable.setPrelude(metadata);
    return writable;
  }
}

/** The `responseStream` a streamified handler receives. */
export class LocalResponseStream extends HttpResponseStream {
  readonly [RESPONSE_STREAM] = true;
  private contentType: string | undefined;
  private prelude: Record<string, unknown> | undefined;
  private headSent = false;

  constructor(private readonly sink: ResponseSink) {
    super();
  }

  /** True once the status and headers have gone out (the handler wrote or ended). */
  get committed(): boolean {
    return this.headSent;
  }

  setContentType(contentType: string): void {
    if (this.headSent) throw new Error('setContentType must be called before the first write');
    this.contentType = contentType;
  }

  setPrelude(prelude: Record<string, unknown>): void {
    if (this.headSent) throw new Error('HttpResponseStream.from must be called before the first write');
    this.prelude = prelude;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.commit();
    this.sink.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.commit();
    this.sink.end();
    callback();
  }

  private commit() {
    if (this.headSent) return;
    this.headSent = true;
    this.sink.head(this.head());
  }

  private head(): ResponseHead {
    if (this.contentType === HTTP_INTEGRATION_CONTENT_TYPE && this.prelude) {
      const { statusCode, headers, multiValueHeaders, cookies } = this.prelude;
      return {
        statusCode: typeof statusCode === 'number' ? statusCode : 200,
        headers: stringRecord(headers),
        multiValueHeaders: stringListRecord(multiValueHeaders),
        cookies: Array.isArray(cookies) ? cookies.map(String) : [],
      };
    }
    return {
      statusCode: 200,
      headers: { 'content-type': this.contentType ?? 'application/octet-stream' },
      multiValueHeaders: {},
      cookies: [],
    };
  }
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value))
      if (item !== undefined && item !== null) out[key] = String(item);
  }
  return out;
}

function stringListRecord(value: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (value && typeof value === 'object') {
    for (const [key, items] of Object.entries(value)) if (Array.isArray(items)) out[key] = items.map(String);
  }
  return out;
}

type AnyHandler = ((...args: never[]) => unknown) & { [HANDLER_STREAMING]?: string };

function streamifyResponse<T extends AnyHandler>(handler: T, options?: { highWaterMark?: number }): T {
  handler[HANDLER_STREAMING] = STREAM_RESPONSE;
  if (options?.highWaterMark !== undefined) {
    (handler as T & { [HANDLER_HIGHWATERMARK]?: number })[HANDLER_HIGHWATERMARK] = options.highWaterMark;
  }
  return handler;
}

const REQUEST_ID = Symbol.for('_AWS_LAMBDA_REQUEST_ID');
const X_RAY_TRACE_ID = Symbol.for('_AWS_LAMBDA_X_RAY_TRACE_ID');
const TENANT_ID = Symbol.for('_AWS_LAMBDA_TENANT_ID');
const PROTECTED_KEYS = new Set<string | symbol>([REQUEST_ID, X_RAY_TRACE_ID, TENANT_ID]);

type InvocationContext = Record<string | symbol, unknown>;

/**
 * Lambda's `awslambda.InvokeStore` for a runtime that runs invocations concurrently (Lambda
 * Managed Instances): per-invocation state in AsyncLocalStorage. Handlers share this process and
 * run concurrently here, so libraries that keep per-invocation state (Powertools' logger keys) use
 * it to keep one request's state out of another's, as they do in such a Lambda runtime.
 */
class LocalInvokeStore {
  private readonly storage = new AsyncLocalStorage<InvocationContext>();
  getContext(): InvocationContext | undefined {
    return this.storage.getStore();
  }
  hasContext(): boolean {
    return this.storage.getStore() !== undefined;
  }
  get(key: string | symbol): unknown {
    return this.storage.getStore()?.[key];
  }
  set(key: string | symbol, value: unknown): void {
    if (PROTECTED_KEYS.has(key))
      throw new Error(`Cannot modify protected Lambda context field: ${String(key)}`);
    const store = this.storage.getStore();
    if (!store) throw new Error('No context available');
    store[key] = value;
  }
  run<T>(context: InvocationContext, fn: () => T): T {
    return this.storage.run(context, fn);
  }
  getRequestId(): string {
    return (this.get(REQUEST_ID) as string | undefined) ?? '-';
  }
  getXRayTraceId(): string | undefined {
    return this.get(X_RAY_TRACE_ID) as string | undefined;
  }
  getTenantId(): string | undefined {
    return this.get(TENANT_ID) as string | undefined;
  }
}

/**
 * Installs `globalThis.awslambda` as Lambda's runtime does; call before importing any handler.
 * The object may exist already (the AWS SDK creates an empty one): its members are added to it.
 */
export function installAwsLambdaGlobals(): LocalInvokeStore {
  const scope = globalThis as unknown as { awslambda?: Record<string, unknown> };
  const awslambda = scope.awslambda ?? {};
  scope.awslambda = awslambda;
  awslambda.streamifyResponse ??= streamifyResponse;
  awslambda.HttpResponseStream ??= HttpResponseStream;
  if (!(awslambda.InvokeStore instanceof LocalInvokeStore)) {
    awslambda.InvokeStore = new LocalInvokeStore();
  }
  return awslambda.InvokeStore as LocalInvokeStore;
}

/** Runs `fn` as one invocation: per-invocation state (the InvokeStore) is its own. */
function inInvocation<T>(store: LocalInvokeStore, awsRequestId: string, fn: () => T): T {
  return store.run({ [REQUEST_ID]: awsRequestId }, fn);
}

export const isStreamingHandler = (handler: unknown): boolean =>
  typeof handler === 'function' && (handler as AnyHandler)[HANDLER_STREAMING] === STREAM_RESPONSE;

// ---------------------------------------------------------------------------------------------
// Environment

export interface LambdaEnvironmentOptions {
  readonly provisioned: Provisioned;
  readonly endpoints: Endpoints;
  readonly operatorKey: string;
  readonly publicBaseUrl: string;
  readonly dataDir: string;
  readonly logLevel?: string;
  readonly stage?: string;
}

const QUIET_LEVELS = new Set(['WARN', 'ERROR', 'CRITICAL', 'SILENT']);

/** The environment every function gets, as the stack sets it in AWS (resource names, settings). */
export function lambdaEnvironment(options: LambdaEnvironmentOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const table of Object.values(options.provisioned.tables)) env[table.envVar] = table.name;
  for (const queue of Object.values(options.provisioned.queues)) env[queue.envVar] = queue.url;
  for (const bucket of Object.values(options.provisioned.buckets)) env[bucket.envVar] = bucket.name;
  return {
    ...env,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_DYNAMODB: options.endpoints.dynamodb,
    AWS_ENDPOINT_URL_S3: options.endpoints.s3,
    AWS_ENDPOINT_URL_SQS: options.endpoints.sqs,
    AWS_ENDPOINT_URL_SNS: options.endpoints.sqs,
    // In AWS only the functions that notify on-call get it; here every function shares one environment.
    ONCALL_TOPIC_ARN: options.provisioned.onCallTopicArn,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    PARLEY_OPERATOR_KEY: options.operatorKey,
    PARLEY_DATA_DIR: options.dataDir,
    // The offline embedder unless the developer picks a hosted one (with OPENAI_API_KEY etc.).
    EMBEDDING_PROVIDER: process.env.EMBEDDING_PROVIDER ?? 'local',
    STAGE: options.stage ?? 'local',
    POWERTOOLS_SERVICE_NAME: 'parley',
    LOG_LEVEL: options.logLevel ?? 'INFO',
    // Metrics are log lines (embedded metric format): printed with the INFO lines, quiet above.
    POWERTOOLS_METRICS_DISABLED: String(QUIET_LEVELS.has((options.logLevel ?? 'INFO').toUpperCase())),
    PUBLIC_BASE_URL: options.publicBaseUrl,
    // Invocations run concurrently in this process, as in a Lambda Managed Instances runtime: this
    // tells Powertools to keep per-invocation state in awslambda.InvokeStore.
    AWS_LAMBDA_MAX_CONCURRENCY: '64',
    // Tracing is off outside Lambda (shared/tracing.ts), but the X-Ray SDK it loads would still put
    // an async hook (cls-hooked, with destroy tracking) on every promise of this process: a large
    // share of each request's time. Manual mode does not install it.
    AWS_XRAY_MANUAL_MODE: '1',
    // Lambda runs in UTC.
    TZ: 'UTC',
  };
}

/**
 * Puts the functions' environment into process.env (the handlers run in this process). Shell
 * credentials that would override the local ones are removed.
 */
export function applyLambdaEnvironment(env: Record<string, string>): void {
  for (const name of ['AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_SECURITY_TOKEN']) {
    delete process.env[name];
  }
  Object.assign(process.env, env);
}

// ---------------------------------------------------------------------------------------------
// Invocation

export type InvokeOutcome<T> =
  | { readonly status: 'ok'; readonly value: T; readonly durationMs: number }
  | { readonly status: 'error'; readonly error: unknown; readonly durationMs: number }
  | { readonly status: 'timeout'; readonly durationMs: number };

export interface FunctionHostOptions {
  readonly functions: Readonly<Record<string, LocalFunctionDefinition>>;
  /** Directory that function entries are relative to (the repository root). */
  readonly rootDir: string;
  /** Function names are `<namePrefix>-<name>`, as in `parley-local-admin`. */
  readonly namePrefix?: string;
  readonly logger?: Logger;
}

interface LoadedFunction {
  readonly handler: AnyHandler;
  readonly streaming: boolean;
}

export class UnknownFunctionError extends Error {}

export class FunctionHost {
  private readonly loaded = new Map<string, Promise<LoadedFunction>>();
  private readonly logStreams = new Map<string, string>();
  private readonly logger: Logger;
  private readonly namePrefix: string;
  private readonly store: LocalInvokeStore;

  constructor(private readonly options: FunctionHostOptions) {
    this.logger = options.logger ?? createLogger({ level: 'SILENT' });
    this.namePrefix = options.namePrefix ?? 'parley-local';
    this.store = installAwsLambdaGlobals();
  }

  definition(name: string): LocalFunctionDefinition {
    const definition = this.options.functions[name];
    if (!definition) throw new UnknownFunctionError(`No function named ${name}`);
    return definition;
  }

  functionName(name: string): string {
    return `${this.namePrefix}-${name}`;
  }

  /** Imports the function's module once (a failed import is retried on the next invocation). */
  load(name: string): Promise<LoadedFunction> {
    let loading = this.loaded.get(name);
    if (!loading) {
      loading = this.import(name);
      this.loaded.set(name, loading);
      loading.catch(() => this.loaded.delete(name));
    }
    return loading;
  }

  private async import(name: string): Promise<LoadedFunction> {
    const definition = this.definition(name);
    const file = isAbsolute(definition.entry)
      ? definition.entry
      : resolve(this.options.rootDir, definition.entry);
    const started = performance.now();
    const module = (await import(pathToFileURL(file).href)) as { handler?: unknown };
    if (typeof module.handler !== 'function') {
      throw new Error(`${definition.entry} does not export a function named handler`);
    }
    const handler = module.handler as AnyHandler;
    const streaming = isStreamingHandler(handler);
    if (streaming !== definition.streaming) {
      this.logger.warn(
        definition.streaming
          ? 'function is declared streaming but its handler is not wrapped in awslambda.streamifyResponse'
          : 'function is declared buffered but its handler is wrapped in awslambda.streamifyResponse',
        { function: name },
      );
    }
    this.logger.debug('loaded function', { function: name, ms: Math.round(performance.now() - started) });
    return { handler, streaming };
  }

  /**
   * Lambda names a log stream per execution environment, not per invocation; here a function's
   * environment is this process, so its name is made once (random bytes per invocation cost time).
   */
  private logStreamName(name: string): string {
    let stream = this.logStreams.get(name);
    if (!stream) {
      const date = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
      stream = `${date}/[$LATEST]${randomBytes(16).toString('hex')}`;
      this.logStreams.set(name, stream);
    }
    return stream;
  }

  /** A Lambda context for one invocation that must finish by `deadline` (epoch ms). */
  createContext(name: string, deadline: number): Context {
    const definition = this.definition(name);
    const functionName = this.functionName(name);
    const unsupported = (what: string) => () => {
      throw new Error(`context.${what}() is not supported: return a promise from the handler`);
    };
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
      memoryLimitInMB: String(definition.memoryMb),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: this.logStreamName(name),
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: unsupported('done'),
      fail: unsupported('fail'),
      succeed: unsupported('succeed'),
    };
  }

  /**
   * Invokes a buffered handler with `event`. The result is whatever it returned; `timeout` when it
   * ran past `timeoutMs` (default: the function's timeout). A timed-out handler cannot be stopped
   * in-process: it keeps running, and its result is dropped.
   */
  invoke<T = unknown>(
    name: string,
    event: unknown,
    options: { timeoutMs?: number } = {},
  ): Promise<InvokeOutcome<T>> {
    return this.run<T>(name, false, options, (handler, context) =>
      (handler as (event: unknown, context: Context) => unknown)(event, context),
    );
  }

  /** Invokes a streamified handler, which writes its response to `stream`. */
  invokeStreaming(
    name: string,
    event: unknown,
    stream: LocalResponseStream,
    options: { timeoutMs?: number } = {},
  ): Promise<InvokeOutcome<void>> {
    return this.run<void>(name, true, options, async (handler, context) => {
      await (handler as (event: unknown, stream: Writable, context: Context) => unknown)(
        event,
        stream,
        context,
      );
    });
  }

  /** Loads the handler, checks its kind, and calls it inside an invocation context with a deadline. */
  private async run<T>(
    name: string,
    streaming: boolean,
    options: { timeoutMs?: number },
    call: (handler: unknown, context: Context) => unknown,
  ): Promise<InvokeOutcome<T>> {
    const started = performance.now();
    const timeoutMs = options.timeoutMs ?? this.definition(name).timeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    const elapsed = () => performance.now() - started;
    try {
      const loaded = await this.load(name);
      if (loaded.streaming !== streaming) {
        throw new Error(
          streaming
            ? `Function ${name} is not wrapped in awslambda.streamifyResponse`
            : `Function ${name} streams its response; invoke it with invokeStreaming`,
        );
      }
      const context = this.createContext(name, deadline);
      const run = inInvocation(this.store, context.awsRequestId, () =>
        Promise.resolve().then(() => call(loaded.handler, context)),
      );
      const value = await this.withTimeout(name, run, deadline);
      if (value === TIMED_OUT) return { status: 'timeout', durationMs: elapsed() };
      return { status: 'ok', value: (streaming ? undefined : value) as T, durationMs: elapsed() };
    } catch (error) {
      return { status: 'error', error, durationMs: elapsed() };
    }
  }

  async isStreaming(name: string): Promise<boolean> {
    return (await this.load(name)).streaming;
  }

  private async withTimeout(name: string, run: Promise<unknown>, deadline: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
    });
    try {
      const value = await Promise.race([run, timeout]);
      if (value === TIMED_OUT) {
        this.logger.warn(
          'function timed out; in this process its code keeps running, its result is dropped',
          {
            function: name,
          },
        );
        run.catch(() => {});
      }
      return value;
    } finally {
      clearTimeout(timer);
    }
  }
}

const TIMED_OUT = Symbol('timed out');
