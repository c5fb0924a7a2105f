// A local HTTP/2 cleartext server (127.0.0.1 only) that answers Bedrock Runtime's Converse and
// ConverseStream the way the service does, for testing the chat adapter through the REAL
// `@aws-sdk/client-bedrock-runtime` client (give the client `endpoint: server.url`; its default
// handler, NodeHttp2Handler, speaks HTTP/2 to an http:// endpoint):
// - `POST /model/{modelId}/converse` → `{output: {message}, stopReason, usage, metrics}`;
// - `POST /model/{modelId}/converse-stream` → `application/vnd.amazon.eventstream`: binary frames
//   (prelude with total and headers length and its CRC32, string headers `:event-type`,
//   `:content-type`, `:message-type`, a JSON payload, the message CRC32) for messageStart,
//   contentBlockDelta per token, contentBlockStop, messageStop and metadata (usage); errors inside
//   the stream are `:message-type: exception` frames with an `:exception-type`;
// - Converse's input checks (alternating roles starting with the user, no blank text, maxTokens,
//   temperature in [0, 1], a known model id) as ValidationException, with the
//   `x-amzn-ErrorType` header the SDK reads the error's name from;
// - failures on demand: 429 ThrottlingException, 500, 503, a request that never gets an answer, a
//   stream that stalls, one cut off mid-frame (connection destroyed), one that ends early without
//   messageStop, and exceptions inside the stream.
//
// The model "says" `server.answer`, a token per word (with its trailing whitespace); maxTokens cuts
// it (`stopReason: "max_tokens"`); input tokens are counted a token per four characters.

import { randomUUID } from 'node:crypto';
import {
  createServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
} from 'node:http2';
import { crc32 } from 'node:zlib';
import { listenHttp2 } from './listen.ts';

export type BedrockChatFailure =
  | { kind: 'throttling' }
  | { kind: 'internal' }
  | { kind: 'unavailable' }
  | { kind: 'validation'; message?: string }
  /** No answer at all (the stream stays open until the client gives up). */
  | { kind: 'hang' }
  /** Streams: `afterDeltas` deltas, then silence. */
  | { kind: 'stall'; afterDeltas: number }
  /** Streams: `afterDeltas` deltas and half a frame, then the connection is destroyed. Converse: half the body, then the same. */
  | { kind: 'cut'; afterDeltas?: number }
  /** Streams: `afterDeltas` deltas, then the body ends cleanly without messageStop and metadata. */
  | { kind: 'end_early'; afterDeltas: number }
  /** Streams: HTTP 200, `afterDeltas` deltas, then an exception frame (e.g. throttlingException). */
  | { kind: 'stream_exception'; exceptionType: string; afterDeltas?: number; message?: string };

export interface ConverseWireRequest {
  readonly operation: 'converse' | 'converse-stream';
  readonly modelId: string;
  readonly headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: the raw JSON the client sent
  readonly body: Record<string, any>;
}

export interface BedrockChatWireServer {
  readonly url: string;
  readonly requests: ConverseWireRequest[];
  /** What the model answers (one token per word). */
  answer: string;
  /** Delay before each stream frame (default 0). */
  frameDelayMs: number;
  /** The next `count` requests fail this way (queued after earlier failures). */
  failNext(count: number, failure: BedrockChatFailure): void;
  /** Forgets the failures still queued. */
  clearFailures(): void;
  /** Responses whose stream closed before the server ended them (cancelled by the client, or cut). */
  readonly unfinished: number;
  close(): Promise<void>;
}

export const DEFAULT_ANSWER =
  'Refunds are issued within 30 days of purchase [1]. Contact support to start one [2].';

export const wireTokens = (text: string) => text.match(/\S+\s*/g) ?? [];

/** How the server counts input tokens: one per four characters of the system prompt and the messages' text. */
export function wireInputTokens(body: {
  system?: { text?: string }[];
  messages?: { content?: { text?: string }[] }[];
}): number {
  const texts = [
    ...(body.system ?? []).map((s) => s.text ?? ''),
    ...(body.messages ?? []).flatMap((m) => (m.content ?? []).map((c) => c.text ?? '')),
  ];
  return texts.reduce((sum, t) => sum + Math.ceil(t.length / 4), 0);
}

/** One AWS event-stream message: prelude (lengths + CRC32), string headers, payload, message CRC32. */
export function eventStreamFrame(headers: Record<string, string>, payload: Uint8Array): Buffer {
  const encoded = Object.entries(headers).map(([name, value]) => {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); // value type 7: string
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    return h;
  });
  const headerBytes = Buffer.concat(encoded);
  const total = 12 + headerBytes.length + payload.length + 4;
  const frame = Buffer.alloc(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(headerBytes.length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8);
  headerBytes.copy(frame, 12);
  Buffer.from(payload).copy(frame, 12 + headerBytes.length);
  frame.writeUInt32BE(crc32(frame.subarray(0, total - 4)), total - 4);
  return frame;
}

const event = (type: string, body: Record<string, unknown>) =>
  eventStreamFrame(
    { ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' },
    // Bedrock pads events with a random-length `p` field (against traffic analysis).
    Buffer.from(
      JSON.stringify({ ...body, p: 'abcdefghijklmnopqrstuvwxyz'.slice(0, 1 + (type.length % 26)) }),
    ),
  );

const exception = (type: string, message: string) =>
  eventStreamFrame(
    { ':exception-type': type, ':content-type': 'application/json', ':message-type': 'exception' },
    Buffer.from(JSON.stringify({ message })),
  );

const FAILURES = {
  throttling: {
    status: 429,
    type: 'ThrottlingException',
    message: 'Too many requests, please wait before trying again.',
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
  validation: {
    status: 400,
    type: 'ValidationException',
    message: 'Malformed input request, please reformat your input and try again.',
  },
} as const;

export async function startBedrockChatServer(): Promise<BedrockChatWireServer> {
  const requests: ConverseWireRequest[] = [];
  const failures: BedrockChatFailure[] = [];
  let unfinished = 0;

  const send = (res: Http2ServerResponse, status: number, body: unknown, errorType?: string) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID(),
      ...(errorType
        ? { 'x-amzn-errortype': `${errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/` }
        : {}),
    });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const fail = (res: Http2ServerResponse, status: number, type: string, message: string) =>
    send(res, status, { message }, type);
  const invalid = (res: Http2ServerResponse, message: string) =>
    fail(res, 400, 'ValidationException', message);

  const handle = async (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const raw: Buffer[] = [];
    for await (const chunk of req) raw.push(chunk as Buffer);
    const match = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(
      new URL(req.url ?? '/', 'http://wire').pathname,
    );
    if (req.method !== 'POST' || !match?.[1] || !match[2]) {
      fail(res, 404, 'UnknownOperationException', 'Unknown operation');
      return;
    }
    const modelId = decodeURIComponent(match[1]);
    const operation = match[2] as ConverseWireRequest['operation'];
    // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
    let body: Record<string, any>;
    try {
      body = JSON.parse(Buffer.concat(raw).toString('utf8'));
    } catch {
      invalid(res, 'Malformed input request, please reformat your input and try again.');
      return;
    }
    requests.push({ operation, modelId, headers: req.headers, body });
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      fail(res, 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
      return;
    }
    if (modelId.startsWith('missing')) {
      invalid(res, 'The provided model identifier is invalid.');
      return;
    }
    const messages: { role?: string; content?: { text?: unknown }[] }[] = Array.isArray(body.messages)
      ? body.messages
      : [];
    if (messages.length === 0) {
      invalid(
        res,
        'A conversation must start with a user message. Try again with a conversation that starts with a user message.',
      );
      return;
    }
    for (const [i, m] of messages.entries()) {
      if (m.role !== (i % 2 === 0 ? 'user' : 'assistant')) {
        invalid(
          res,
          i === 0
            ? 'A conversation must start with a user message. Try again with a conversation that starts with a user message.'
            : 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.',
        );
        return;
      }
      if (
        !Array.isArray(m.content) ||
        m.content.some((c) => typeof c.text !== 'string' || c.text.trim() === '')
      ) {
        invalid(
          res,
          `The text field in the ContentBlock object at messages.${i}.content.0 is blank. Add text to the text field, and try again.`,
        );
        return;
      }
    }
    const { maxTokens, temperature } = body.inferenceConfig ?? {};
    if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
      invalid(
        res,
        "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
      );
      return;
    }
    if (temperature !== undefined && (temperature < 0 || temperature > 1)) {
      invalid(res, `The model returned the following errors: temperature: range: 0..1, got ${temperature}`);
      return;
    }

    const failure = failures.shift();
    if (failure && failure.kind in FAILURES) {
      const f = FAILURES[failure.kind as keyof typeof FAILURES];
      fail(res, f.status, f.type, (failure.kind === 'validation' && failure.message) || f.message);
      return;
    }
    if (failure?.kind === 'hang') return; // closed by the client's abort or by close()

    const all = wireTokens(wire.answer);
    const tokens = maxTokens === undefined ? all : all.slice(0, maxTokens);
    const stopReason = tokens.length < all.length ? 'max_tokens' : 'end_turn';
    const inputTokens = wireInputTokens(body);
    const usage = { inputTokens, outputTokens: tokens.length, totalTokens: inputTokens + tokens.length };

    if (operation === 'converse') {
      const answer = JSON.stringify({
        output: { message: { role: 'assistant', content: [{ text: tokens.join('') }] } },
        stopReason,
        usage,
        metrics: { latencyMs: 42 },
      });
      if (failure?.kind === 'cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() });
        res.write(answer.slice(0, answer.length / 2));
        setTimeout(() => res.stream.session?.destroy(), 20);
        return;
      }
      send(res, 200, answer);
      return;
    }

    res.writeHead(200, {
      'content-type': 'application/vnd.amazon.eventstream',
      'x-amzn-requestid': randomUUID(),
    });
    const write = async (frame: Buffer) => {
      if (wire.frameDelayMs > 0) await new Promise((r) => setTimeout(r, wire.frameDelayMs));
      if (!res.stream.destroyed && !res.stream.closed) res.write(frame);
    };
    await write(event('messageStart', { role: 'assistant' }));
    const breaksOff =
      failure?.kind === 'stall' ||
      failure?.kind === 'cut' ||
      failure?.kind === 'end_early' ||
      failure?.kind === 'stream_exception';
    const stopAt = breaksOff ? Math.min(failure.afterDeltas ?? 0, tokens.length) : tokens.length;
    for (const token of tokens.slice(0, stopAt)) {
      await write(event('contentBlockDelta', { contentBlockIndex: 0, delta: { text: token } }));
    }
    switch (failure?.kind) {
      case 'stall':
        return;
      case 'cut': {
        const next = event('contentBlockDelta', {
          contentBlockIndex: 0,
          delta: { text: tokens[stopAt] ?? 'more' },
        });
        await write(next.subarray(0, next.length / 2));
        setTimeout(() => res.stream.session?.destroy(), 20);
        return;
      }
      case 'end_early':
        res.end();
        return;
      case 'stream_exception':
        await write(
          exception(failure.exceptionType, failure.message ?? 'The stream failed. Try your request again.'),
        );
        res.end();
        return;
    }
    await write(event('contentBlockStop', { contentBlockIndex: 0 }));
    await write(event('messageStop', { stopReason }));
    await write(event('metadata', { usage, metrics: { latencyMs: 42 } }));
    res.end();
  };

  const server = createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableEnded) unfinished++;
    });
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) fail(res, 500, 'InternalServerException', String(error));
      else res.stream.destroy();
    });
  });
  const listening = await listenHttp2(server);
  const wire: BedrockChatWireServer = {
    url: listening.url,
    requests,
    answer: DEFAULT_ANSWER,
    frameDelayMs: 0,
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    clearFailures() {
      failures.length = 0;
    },
    get unfinished() {
      return unfinished;
    },
    close: listening.close,
  };
  return wire;
}
