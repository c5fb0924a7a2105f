// A local HTTP server (127.0.0.1 only) that answers Bedrock Runtime's InvokeModel for Titan Text
// Embeddings v2 the way the service does, for testing the embedder through the REAL
// `@aws-sdk/client-bedrock-runtime` client (give the client `endpoint: server.url`):
// `POST /model/{modelId}/invoke` → `{embedding, embeddingsByType, inputTextTokenCount}`, Titan's
// input checks (ValidationException), and failures on demand (429 ThrottlingException, 5xx), each
// with the `x-amzn-ErrorType` header the SDK reads the error's name from. It speaks HTTP/2 in
// cleartext, as the client's default handler (NodeHttp2Handler) does with an http:// endpoint.

import { randomUUID } from 'node:crypto';
import { createServer, type Http2ServerResponse, type IncomingHttpHeaders } from 'node:http2';
import { listenHttp2 } from './listen.ts';
import { wireEmbedding } from './openai-server.ts';

export type BedrockFailure =
  | { kind: 'throttling' }
  | { kind: 'validation'; message?: string }
  | { kind: 'internal' }
  | { kind: 'unavailable' };

export interface BedrockRequest {
  readonly modelId: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: { inputText?: unknown; dimensions?: unknown; normalize?: unknown };
}

export interface BedrockWireServer {
  readonly url: string;
  readonly requests: BedrockRequest[];
  /** The next `count` invocations fail this way (queued after earlier failures). */
  failNext(count: number, failure: BedrockFailure): void;
  /** Delay every answer (to observe parallelism). */
  delayMs: number;
  /** The most invocations that were in flight at once (since the last reset). */
  readonly maxInFlight: number;
  resetMaxInFlight(): void;
  close(): Promise<void>;
}

const FAILURES = {
  throttling: {
    status: 429,
    type: 'ThrottlingException',
    message: 'Too many requests, please wait before trying again.',
  },
  validation: {
    status: 400,
    type: 'ValidationException',
    message: 'Malformed input request, please reformat your input and try again.',
  },
  internal: {
    status: 500,
    type: 'InternalServerException',
    message: 'The server encountered an internal error.',
  },
  unavailable: {
    status: 503,
    type: 'ServiceUnavailableException',
    message: 'Bedrock is unable to process your request.',
  },
} as const;

/** `charsPerToken`: how the server counts tokens (default 7, so the 50,000-character limit binds before the 8,192-token one, as for English prose). */
export async function startBedrockServer(
  options: { charsPerToken?: number } = {},
): Promise<BedrockWireServer> {
  const charsPerToken = options.charsPerToken ?? 7;
  const requests: BedrockRequest[] = [];
  const failures: BedrockFailure[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const send = (res: Http2ServerResponse, status: number, body: unknown, errorType?: string) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID(),
      ...(errorType
        ? { 'x-amzn-errortype': `${errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/` }
        : {}),
    });
    res.end(JSON.stringify(body));
  };
  const fail = (res: Http2ServerResponse, status: number, type: string, message: string) =>
    send(res, status, { message }, type);

  const server = createServer(async (req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const raw: Buffer[] = [];
      for await (const chunk of req) raw.push(chunk as Buffer);
      if (wire.delayMs > 0) await new Promise((r) => setTimeout(r, wire.delayMs));
      const match = /^\/model\/([^/]+)\/invoke$/.exec(new URL(req.url ?? '/', 'http://wire').pathname);
      if (req.method !== 'POST' || !match?.[1]) {
        fail(res, 404, 'UnknownOperationException', 'Unknown operation');
        return;
      }
      const modelId = decodeURIComponent(match[1]);
      let body: BedrockRequest['body'];
      try {
        body = JSON.parse(Buffer.concat(raw).toString('utf8'));
      } catch {
        fail(
          res,
          400,
          'ValidationException',
          'Malformed input request, please reformat your input and try again.',
        );
        return;
      }
      requests.push({ modelId, headers: req.headers, body });
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
        fail(
          res,
          403,
          'UnrecognizedClientException',
          'The security token included in the request is invalid.',
        );
        return;
      }
      const failure = failures.shift();
      if (failure) {
        const f = FAILURES[failure.kind];
        fail(res, f.status, f.type, (failure.kind === 'validation' && failure.message) || f.message);
        return;
      }
      if (!modelId.startsWith('amazon.titan-embed-text-v2')) {
        fail(res, 400, 'ValidationException', 'The provided model identifier is invalid.');
        return;
      }
      const extra = Object.keys(body).filter(
        (k) => !['inputText', 'dimensions', 'normalize', 'embeddingTypes'].includes(k),
      );
      if (extra.length > 0) {
        fail(
          res,
          400,
          'ValidationException',
          `Malformed input request: extraneous key [${extra[0]}] is not permitted, please reformat your input and try again.`,
        );
        return;
      }
      const { inputText, dimensions = 1024 } = body;
      if (typeof inputText !== 'string' || inputText.length === 0) {
        fail(
          res,
          400,
          'ValidationException',
          'Malformed input request: expected minLength: 1, actual: 0, please reformat your input and try again.',
        );
        return;
      }
      if (inputText.length > 50_000) {
        fail(
          res,
          400,
          'ValidationException',
          `Malformed input request: expected maxLength: 50000, actual: ${inputText.length}, please reformat your input and try again.`,
        );
        return;
      }
      const tokens = Math.ceil(inputText.length / charsPerToken);
      if (tokens > 8192) {
        fail(
          res,
          400,
          'ValidationException',
          `Too many input tokens. Max input tokens: 8192, request input token count: ${tokens} `,
        );
        return;
      }
      if (dimensions !== 1024 && dimensions !== 512 && dimensions !== 256) {
        fail(
          res,
          400,
          'ValidationException',
          `Malformed input request: #/dimensions: ${dimensions} is not a valid enum value, please reformat your input and try again.`,
        );
        return;
      }
      const embedding = wireEmbedding(inputText, dimensions);
      send(res, 200, { embedding, embeddingsByType: { float: embedding }, inputTextTokenCount: tokens });
    } finally {
      inFlight--;
    }
  });

  const listening = await listenHttp2(server);
  const wire: BedrockWireServer = {
    url: listening.url,
    requests,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    delayMs: 0,
    get maxInFlight() {
      return maxInFlight;
    },
    resetMaxInFlight() {
      maxInFlight = inFlight;
    },
    close: listening.close,
  };
  return wire;
}
