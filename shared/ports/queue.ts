/** A queue to send messages to (JSON bodies). */
export interface MessageQueue<T> {
  send(messages: readonly T[]): Promise<void>;
}
