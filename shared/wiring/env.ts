import * as z from 'zod';

/**
 * Reads and validates a function's environment once, at cold start. A missing or malformed
 * variable fails the container with the variable's name, not a request with a vague error.
 */
export function readEnv<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.output<z.ZodObject<S>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  return result.data;
}

export const required = z.string().min(1, 'is required');
export const optional = z.string().min(1).optional();
