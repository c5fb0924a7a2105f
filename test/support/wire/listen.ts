// What every wire server needs around its request handler: a loopback port, and a close that
// does not wait for clients' idle keep-alive connections (HTTP/2 sessions stay open otherwise);
// and the request's body, read whole.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Http2Server, Http2Session } from 'node:http2';
import type { AddressInfo, Server as NetServer } from 'node:net';

/** Listens on a free loopback port; `close` ends open HTTP/2 sessions, then the server. */
export function listenHttp2(server: Http2Server): Promise<{ url: string; close: () => Promise<void> }> {
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  return listenLoopback(server, () => {
    for (const session of sessions) session.destroy();
  });
}

/** Listens on a free loopback port; `close` drops open connections (a hanging request too), then the server. */
export function listenHttp(server: Server): Promise<{ url: string; close: () => Promise<void> }> {
  return listenLoopback(server, () => server.closeAllConnections());
}

async function listenLoopback(
  server: NetServer,
  dropConnections: () => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        dropConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The request's body, whole. */
export async function readRequestBody(req: IncomingMessage): Promise<Buffer> {
  const raw: Buffer[] = [];
  for await (const chunk of req) raw.push(chunk as Buffer);
  return Buffer.concat(raw);
}

/** The request's JSON body (`{}` when empty), or undefined when it does not parse. */
export async function readJsonBody<T>(req: IncomingMessage): Promise<T | undefined> {
  const raw = await readRequestBody(req);
  try {
    return (raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {}) as T;
  } catch {
    return undefined;
  }
}

/** A JSON response with the headers OpenAI's API sends. */
export function sendOpenAIJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': `req_${randomUUID().replaceAll('-', '')}`,
    'openai-processing-ms': '5',
    ...headers,
  });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
