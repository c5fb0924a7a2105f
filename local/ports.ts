import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';

/** A port the OS considers free on the loopback interface right now. */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('Could not determine a free port'))));
    });
  });
}

/** Thrown when the gateway's port is taken; its message is what `npm start` prints. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(
      `Port ${port} is already in use; set PORT to another port (e.g. PORT=${port === 65535 ? port - 1 : port + 1} npm start)`,
    );
    this.name = 'PortInUseError';
  }
}
