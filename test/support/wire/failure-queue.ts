// The failures a wire server is told to answer with, in order: each call takes the next one (a
// `null` is a call let through), so a test can say "the next 2 calls fail, after 1 that passes".

export interface FailureQueue<F> {
  /** The next call's failure: undefined or null when it is to be answered normally. */
  next(): F | null | undefined;
  /** The next `count` calls (after `after` that pass) fail this way; queued after earlier failures. */
  failNext(count: number, failure: F, options?: { after?: number }): void;
  clear(): void;
}

export function failureQueue<F>(): FailureQueue<F> {
  const failures: (F | null)[] = [];
  return {
    next: () => failures.shift(),
    failNext(count, failure, { after = 0 } = {}) {
      for (let i = 0; i < after; i++) failures.push(null);
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    clear() {
      failures.length = 0;
    },
  };
}
