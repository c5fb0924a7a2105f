import type { z } from 'zod';
import { BadRequestError, type FieldIssue } from './errors.ts';

export function toFieldIssues(error: z.ZodError, prefix = ''): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join('.'),
    message: issue.message,
  }));
}

/** Parses untrusted input, or throws a 400 naming every offending field. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  prefix = '',
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new BadRequestError(`Invalid ${what}`, toFieldIssues(result.error, prefix));
  return result.data;
}
