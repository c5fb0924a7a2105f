// The browser's client of Parley's API: JSON calls that turn the error envelope into an `ApiError`
// with a message a person can read, and the chat stream's Server-Sent Events as an async iterator.
// Used by the console, the hosted chat page and (through it) the widget.

/** What every page reads first: where the API is (a generated file beside the pages). */
export interface WebConfig {
  apiBaseUrl: string;
}

export async function loadConfig(): Promise<WebConfig> {
  const response = await fetch(new URL('/config.json', location.href));
  if (!response.ok) throw new ApiError(response.status, 'internal', 'The page could not load its settings.');
  return (await response.json()) as WebConfig;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A sentence for each failure a person may meet, whatever the API said. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) {
    return navigator.onLine === false
      ? 'You seem to be offline. Check your connection and try again.'
      : 'Parley could not be reached. Check your connection and try again.';
  }
  switch (error.code) {
    case 'unauthorized':
      return 'That key was not accepted. Check it and sign in again.';
    case 'not_found':
      return error.message || 'Not found.';
    case 'rate_limited':
      return `Too many messages right now. Please wait${
        error.retryAfterSeconds ? ` ${error.retryAfterSeconds} seconds` : ' a moment'
      } and try again.`;
    case 'quota_exceeded':
      return 'This bot has used up its messages for the month. Please try again later.';
    case 'bot_disabled':
      return 'This bot is switched off at the moment.';
    case 'payload_too_large':
      return error.message || 'That is too large.';
    case 'internal':
      return 'Something went wrong on our side. Please try again in a moment.';
    default:
      return error.message || 'The request was refused.';
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A tenant or operator key, sent as a bearer token. */
  apiKey?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

async function errorOf(response: Response): Promise<ApiError> {
  let envelope: { error?: { code?: string; message?: string; details?: unknown } } | undefined;
  try {
    envelope = (await response.json()) as typeof envelope;
  } catch {
    envelope = undefined;
  }
  const error = envelope?.error;
  const retryAfter = Number(response.headers.get('retry-after'));
  return new ApiError(
    response.status,
    error?.code ?? (response.status >= 500 ? 'internal' : 'bad_request'),
    error?.message ?? `The request failed (HTTP ${response.status}).`,
    Array.isArray(error?.details) ? (error.details as { path: string; message: string }[]) : [],
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

export function createApi(config: WebConfig) {
  const base = config.apiBaseUrl.replace(/\/+$/, '');

  async function send(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${base}${path}`, {
      method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  return {
    base,
    // biome-ignore lint/suspicious/noExplicitAny: callers name the shapes they read.
    async json<T = any>(path: string, options: RequestOptions = {}): Promise<T> {
      const response = await send(path, options);
      return (response.status === 204 ? undefined : await response.json()) as T;
    },

    /** The chat stream's events, in order; a failure mid-stream arrives as an `error` event. */
    async *stream(path: string, options: RequestOptions): AsyncGenerator<{ event: string; data: unknown }> {
      const response = await send(path, { ...options, headers: { accept: 'text/event-stream' } });
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
          }
          if (data) yield { event, data: JSON.parse(data) };
        }
      }
    },
  };
}

export type Api = ReturnType<typeof createApi>;
