// A local HTTP/2 cleartext server (127.0.0.1 only) that answers the Agents for Amazon Bedrock
// runtime's Rerank operation the way the service does, for testing the reranker through the REAL
// `@aws-sdk/client-bedrock-agent-runtime` client (give the client `endpoint: server.url`; its default
// handler, NodeHttp2Handler, speaks HTTP/2 to an http:// endpoint):
// - `POST /rerank` with `{queries, sources, rerankingConfiguration}` (restJson1) →
//   `{results: [{index, relevanceScore}]}`, best first, `numberOfResults` of them at most;
// - the request checks the API documents (one TEXT query, 1 to 1,000 INLINE TEXT sources, texts
//   of 1 to 32,000 characters, `numberOfResults` from 1 to 1,000, a BEDROCK_RERANKING_MODEL
//   configuration whose model ARN names a foundation reranking model), each a 400
//   ValidationException with the `x-amzn-ErrorType` header the SDK reads the error's name from;
// - failures on demand (test/support/wire/failure-queue.ts): 429 ThrottlingException (optionally
//   with `retry-after`), 500 InternalServerException, 502 BadGatewayException, 403
//   AccessDeniedException, 400 ValidationException, a request that never gets an answer, and a 200
//   whose body is not JSON.
//
// The "model" scores a document by word overlap: the share of the query's distinct words (letters
// and digits, lower-cased) that the document contains, so scores are in [0, 1]; ties keep the
// sources' order.

import { randomUUID } from 'node:crypto';
import { createServer, type Http2ServerResponse, type IncomingHttpHeaders } from 'node:http2';
import { failureQueue } from './failure-queue.ts';
import { listenHttp2 } from './listen.ts';

export type RerankFailure =
  | { kind: 'throttling'; retryAfterSeconds?: number }
  | { kind: 'internal' }
  | { kind: 'bad_gateway' }
  | { kind: 'access_denied' }
  | { kind: 'validation'; message?: string }
  /** No answer at all (the stream stays open until the client gives up or the server closes). */
  | { kind: 'hang' }
  /** HTTP 200 with a body that is not JSON. */
  | { kind: 'malformed' };

export interface RerankWireRequest {
  readonly headers: IncomingHttpHeaders;
  // biome-ignore lint/suspicious/noExplicitAny: the raw JSON the client sent
  readonly body: Record<string, any>;
  /** The status answered (undefined for a hang). */
  status?: number;
}

export interface RerankWireServer {
  readonly url: string;
  readonly requests: RerankWireRequest[];
  /** The next `count` calls (after `after` that pass) fail this way; queued after earlier failures. */
  failNext(count: number, failure: RerankFailure, options?: { after?: number }): void;
  clearFailures(): void;
  /** Delay every answer (default 0). */
  delayMs: number;
  close(): Promise<void>;
}

/** Reranking models the server knows (a foundation-model ARN naming another is refused). */
export const WIRE_RERANK_MODELS = ['amazon.rerank-v1:0', 'cohere.rerank-v3-5:0'];

const MODEL_ARN = /^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+::foundation-model\/([a-z0-9.:-]+)$/;

const FAILURES = {
  throttling: {
    status: 429,
    type: 'ThrottlingException',
    message:
      'Your request was denied due to exceeding the account quotas for Amazon Bedrock. Wait a moment and try again.',
  },
  internal: {
    status: 500,
    type: 'InternalServerException',
    message: 'An internal server error occurred. Retry your request.',
  },
  bad_gateway: {
    status: 502,
    type: 'BadGatewayException',
    message: 'There was an issue with a dependency due to a server issue. Retry your request.',
  },
  access_denied: {
    status: 403,
    type: 'AccessDeniedException',
    message: 'You do not have access to the requested model.',
  },
  validation: {
    status: 400,
    type: 'ValidationException',
    message: 'Input validation failed. Check your request parameters and retry the request.',
  },
} as const;

/** The query's distinct words, lower-cased. */
export const wireWords = (text: string) => new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);

/** The server's relevance: the share of the query's distinct words that the document contains. */
export function wireRelevance(query: string, document: string): number {
  const wanted = wireWords(query);
  if (wanted.size === 0) return 0;
  const have = wireWords(document);
  let hits = 0;
  for (const word of wanted) if (have.has(word)) hits++;
  return hits / wanted.size;
}

export async function startBedrockRerankServer(): Promise<RerankWireServer> {
  const requests: RerankWireRequest[] = [];
  const failures = failureQueue<RerankFailure>();

  const send = (
    res: Http2ServerResponse,
    record: RerankWireRequest | undefined,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    if (record) record.status = status;
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID(),
      ...headers,
    });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const fail = (
    res: Http2ServerResponse,
    record: RerankWireRequest | undefined,
    status: number,
    type: string,
    message: string,
    headers: Record<string, string> = {},
  ) =>
    send(
      res,
      record,
      status,
      { message },
      {
        'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock.agent.runtime/`,
        ...headers,
      },
    );
  const constraint = (res: Http2ServerResponse, record: RerankWireRequest, at: string, rule: string) =>
    fail(
      res,
      record,
      400,
      'ValidationException',
      `1 validation error detected: Value at '${at}' failed to satisfy constraint: ${rule}`,
    );

  const server = createServer(async (req, res) => {
    const raw: Buffer[] = [];
    for await (const chunk of req) raw.push(chunk as Buffer);
    if (wire.delayMs > 0) await new Promise((r) => setTimeout(r, wire.delayMs));
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://wire').pathname !== '/rerank') {
      fail(res, undefined, 404, 'UnknownOperationException', 'Unknown operation');
      return;
    }
    // biome-ignore lint/suspicious/noExplicitAny: raw request JSON
    let body: Record<string, any>;
    try {
      body = JSON.parse(Buffer.concat(raw).toString('utf8'));
    } catch {
      fail(res, undefined, 400, 'SerializationException', 'Could not parse the request body');
      return;
    }
    const record: RerankWireRequest = { headers: req.headers, body };
    requests.push(record);
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      fail(
        res,
        record,
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
      return;
    }

    const failure = failures.next();
    if (failure?.kind === 'hang') return; // ended by the client's abort or by close()
    if (failure?.kind === 'malformed') {
      send(res, record, 200, '{"results": [{"index": 0, "relevanceSc');
      return;
    }
    if (failure) {
      const f = FAILURES[failure.kind];
      const retryAfter =
        failure.kind === 'throttling' && failure.retryAfterSeconds !== undefined
          ? { 'retry-after': String(failure.retryAfterSeconds) }
          : undefined;
      fail(
        res,
        record,
        f.status,
        f.type,
        (failure.kind === 'validation' && failure.message) || f.message,
        retryAfter,
      );
      return;
    }

    const queries: { type?: unknown; textQuery?: { text?: unknown } }[] = body.queries;
    if (!Array.isArray(queries) || queries.length !== 1) {
      constraint(res, record, 'queries', 'Member must have length equal to 1');
      return;
    }
    const query = queries[0]?.textQuery?.text;
    if (queries[0]?.type !== 'TEXT' || typeof query !== 'string') {
      constraint(res, record, 'queries.1.member.type', 'Member must satisfy enum value set: [TEXT]');
      return;
    }
    if (query.length < 1 || query.length > 32_000) {
      constraint(
        res,
        record,
        'queries.1.member.textQuery.text',
        'Member must have length between 1 and 32000',
      );
      return;
    }
    const sources: {
      type?: unknown;
      inlineDocumentSource?: { type?: unknown; textDocument?: { text?: unknown } };
    }[] = body.sources;
    if (!Array.isArray(sources) || sources.length < 1 || sources.length > 1_000) {
      constraint(res, record, 'sources', 'Member must have length between 1 and 1000');
      return;
    }
    const texts: string[] = [];
    for (const [i, source] of sources.entries()) {
      const text = source?.inlineDocumentSource?.textDocument?.text;
      if (
        source?.type !== 'INLINE' ||
        source.inlineDocumentSource?.type !== 'TEXT' ||
        typeof text !== 'string'
      ) {
        constraint(
          res,
          record,
          `sources.${i + 1}.member.inlineDocumentSource`,
          'Member must be an INLINE TEXT document',
        );
        return;
      }
      if (text.length < 1 || text.length > 32_000) {
        constraint(
          res,
          record,
          `sources.${i + 1}.member.inlineDocumentSource.textDocument.text`,
          'Member must have length between 1 and 32000',
        );
        return;
      }
      texts.push(text);
    }
    const config = body.rerankingConfiguration;
    if (
      config?.type !== 'BEDROCK_RERANKING_MODEL' ||
      typeof config.bedrockRerankingConfiguration !== 'object'
    ) {
      constraint(
        res,
        record,
        'rerankingConfiguration.type',
        'Member must satisfy enum value set: [BEDROCK_RERANKING_MODEL]',
      );
      return;
    }
    const { numberOfResults, modelConfiguration } = config.bedrockRerankingConfiguration;
    const model = MODEL_ARN.exec(String(modelConfiguration?.modelArn ?? ''))?.[2];
    if (!model || !WIRE_RERANK_MODELS.includes(model)) {
      fail(res, record, 400, 'ValidationException', 'The provided model identifier is invalid.');
      return;
    }
    if (
      numberOfResults !== undefined &&
      (!Number.isInteger(numberOfResults) || numberOfResults < 1 || numberOfResults > 1_000)
    ) {
      constraint(
        res,
        record,
        'rerankingConfiguration.bedrockRerankingConfiguration.numberOfResults',
        'Member must have value between 1 and 1000',
      );
      return;
    }
    const results = texts
      .map((text, index) => ({ index, relevanceScore: wireRelevance(query, text) }))
      .sort((a, b) => b.relevanceScore - a.relevanceScore)
      .slice(0, numberOfResults ?? texts.length);
    send(res, record, 200, { results });
  });

  const listening = await listenHttp2(server);
  const wire: RerankWireServer = {
    url: listening.url,
    requests,
    failNext: (count, failure, options) => failures.failNext(count, failure, options),
    clearFailures: () => failures.clear(),
    delayMs: 0,
    close: listening.close,
  };
  return wire;
}
