/** A queue to send messages to (JSON bodies). */
export interface MessageQueue<T> {
  send(messages: readonly T[]): Promise<void>;
}

/** A FIFO queue: each message in a group (delivered in order), de-duplicated by its id for 5 minutes. */
export interface FifoQueue<T> {
  send(messages: readonly { body: T; groupId: string; deduplicationId: string }[]): Promise<void>;
}
