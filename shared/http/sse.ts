import { Readable } from 'node:stream';

/** One Server-Sent Event. */
export const sseEvent = (event: string, data: unknown) =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

async function drain(chunks: AsyncIterator<string>) {
  while (!(await chunks.next()).done) {}
}

/**
 * A streamed body read from `chunks` as the client takes them. When the reader goes away first
 * (the local gateway destroys the response stream when its client leaves; Lambda gives no such
 * signal), `onAbandoned` runs — a turn stops its model call — and the rest of `chunks` is drained
 * unsent, so what the producer does at its end still happens: a turn stores and meters what it
 * generated.
 */
export function pullStream(chunks: AsyncIterator<string>, onAbandoned: () => void): Readable {
  return new Readable({
    read() {
      chunks.next().then(
        (next) => {
          if (!this.destroyed) this.push(next.done ? null : next.value);
        },
        (error: Error) => this.destroy(error),
      );
    },
    destroy(error, callback) {
      // Destroyed after its end, as every stream is: nothing was abandoned.
      if (this.readableEnded) return callback(error);
      onAbandoned();
      drain(chunks).then(
        () => callback(error),
        (drainError: Error) => callback(error ?? drainError),
      );
    },
  });
}
