import type { Server } from 'node:http';

/**
 * Node closes idle keep-alive connections after 5 s. When the platform's event loop is busy (the
 * offline embedder computes synchronously for a second or two), that close can land just as a
 * client reuses the connection, which the client sees as ECONNRESET. A minute, as load balancers
 * use, keeps the race out of ordinary use.
 */
export function keepConnectionsLonger(server: Server): void {
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}
