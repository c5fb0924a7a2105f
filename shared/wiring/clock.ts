import type { Clock } from '../ports/clock.ts';

/**
 * The functions' clock: the system's, moved by `CLOCK_OFFSET_SECONDS` when that is set. Only the
 * local platform's test hook sets it (so a test can step past a session's TTL); the stack never
 * does, and an infra test holds it to that.
 */
export const functionClock: Clock = {
  now: () => {
    const offset = Number(process.env.CLOCK_OFFSET_SECONDS);
    return new Date(Number.isFinite(offset) ? Date.now() + offset * 1000 : Date.now());
  },
};
