// A local HTTP server (127.0.0.1 only) that answers OpenAI's embeddings endpoint the way the API
// does, for testing the embedder through the REAL `openai` client: `POST {baseURL}/embeddings`
// with float or base64 encodings, `usage`, bearer auth, the context-length error, and failures on
// demand (429 with `retry-after`, 5xx, malformed bodies).

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readJsonBody, sendOpenAIJson } from './listen.ts';

/** A deterministic unit vector for a text (the same text always gets the same vector). */
export function wireEmbedding(text: string, dimension: number): number[] {
  let seed = createHash('sha256').update(text).digest().readUInt32LE(0) || 1;
  const values: number[] = [];
  for (let i = 0; i < dimension; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    values.push(((seed >>> 0) / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...values);
  return values.map((x) => x / norm);
}

export type OpenAIFailure =
  /** 429 `rate_limit_exceeded` with `retry-after` (seconds) and, if given, `retry-after-ms`. */
  | { kind: 'rate_limit'; retryAfterSeconds?: number; retryAfterMs?: number }
  /** A 5xx with OpenAI's `server_error` body. */
  | { kind: 'server_error'; status?: number }
  /** 200 with a body that is not JSON. */
  | { kind: 'malformed' }
  /** 200 with JSON that has no `data`. */
  | { kind: 'no_data' };

export interface OpenAIRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: { model?: string; input?: unknown; dimensions?: number; encoding_format?: string };
}

export interface OpenAIWireServer {
  /** The base URL to give the client (ends in `/v1`). */
  readonly baseURL: string;
  readonly apiKey: string;
  readonly requests: OpenAIRequest[];
  /** The next `count` requests fail this way (queued after earlier failures). */
  failNext(count: number, failure: OpenAIFailure): void;
  close(): Promise<void>;
}

const NATIVE_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

export async function startOpenAIServer(
  options: { apiKey?: string; charsPerToken?: number; maxInputTokens?: number } = {},
): Promise<OpenAIWireServer> {
  const apiKey = options.apiKey ?? 'sk-test-wire';
  const charsPerToken = options.charsPerToken ?? 4;
  const maxInputTokens = options.maxInputTokens ?? 8191;
  const requests: OpenAIRequest[] = [];
  const failures: OpenAIFailure[] = [];

  const send = sendOpenAIJson;
  const invalid = (
    res: ServerResponse,
    message: string,
    param: string | null = null,
    code: string | null = null,
  ) => send(res, 400, { error: { message, type: 'invalid_request_error', param, code } });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://wire');
    const body = await readJsonBody<OpenAIRequest['body']>(req);
    if (body === undefined) {
      invalid(res, 'We could not parse the JSON body of your request.');
      return;
    }
    requests.push({ path: url.pathname, headers: req.headers, body });

    if (req.method !== 'POST' || url.pathname !== '/v1/embeddings') {
      send(res, 404, {
        error: {
          message: `Invalid URL (${req.method} ${url.pathname})`,
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      });
      return;
    }
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      send(res, 401, {
        error: {
          message: 'Incorrect API key provided.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
      return;
    }
    const failure = failures.shift();
    if (failure?.kind === 'rate_limit') {
      send(
        res,
        429,
        {
          error: {
            message:
              'Rate limit reached for text-embedding-3-small on requests per min (RPM): Limit 3000, Used 3000, Requested 1.',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        {
          'retry-after': String(failure.retryAfterSeconds ?? 1),
          ...(failure.retryAfterMs === undefined ? {} : { 'retry-after-ms': String(failure.retryAfterMs) }),
        },
      );
      return;
    }
    if (failure?.kind === 'server_error') {
      send(res, failure.status ?? 500, {
        error: {
          message: 'The server had an error while processing your request. Sorry about that!',
          type: 'server_error',
          param: null,
          code: null,
        },
      });
      return;
    }
    if (failure?.kind === 'malformed') {
      send(res, 200, '{"object": "list", "data": [{"object": "embedding", "embedding": [0.1, ');
      return;
    }
    if (failure?.kind === 'no_data') {
      send(res, 200, { object: 'list', model: body.model, usage: { prompt_tokens: 0, total_tokens: 0 } });
      return;
    }

    const model = body.model ?? '';
    const native = NATIVE_DIMENSIONS[model];
    if (native === undefined) {
      send(res, 404, {
        error: {
          message: `The model \`${model}\` does not exist or you do not have access to it.`,
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      });
      return;
    }
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (
      !Array.isArray(inputs) ||
      inputs.length === 0 ||
      inputs.length > 2048 ||
      !inputs.every((i) => typeof i === 'string' && i !== '')
    ) {
      invalid(
        res,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        'input',
      );
      return;
    }
    if (
      body.dimensions !== undefined &&
      (model === 'text-embedding-ada-002' || body.dimensions < 1 || body.dimensions > native)
    ) {
      invalid(res, `This model does not support specifying dimensions of ${body.dimensions}.`, 'dimensions');
      return;
    }
    const counts = (inputs as string[]).map((text) => Math.ceil(text.length / charsPerToken));
    const longest = Math.max(...counts);
    if (longest > maxInputTokens) {
      invalid(
        res,
        `This model's maximum context length is ${maxInputTokens + 1} tokens, however you requested ${longest} tokens (${longest} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
      );
      return;
    }
    const dimension = body.dimensions ?? native;
    const base64 = body.encoding_format === 'base64';
    const data = (inputs as string[]).map((text, index) => {
      const vector = wireEmbedding(text, dimension);
      return {
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
      };
    });
    const total = counts.reduce((a, b) => a + b, 0);
    send(res, 200, { object: 'list', data, model, usage: { prompt_tokens: total, total_tokens: total } });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    apiKey,
    requests,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
