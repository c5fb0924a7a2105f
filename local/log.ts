// A small leveled logger for the local platform itself (handlers log through Powertools).
// Lines go to stderr so that stdout carries only the platform's own announcements and the
// handlers' structured logs.

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';

const ORDER: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARN: 30, ERROR: 40, SILENT: 100 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
  readonly level: LogLevel;
}

export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'INFO'): LogLevel {
  const upper = (value ?? '').trim().toUpperCase();
  if (upper === 'WARNING') return 'WARN';
  if (upper === 'CRITICAL') return 'ERROR';
  return upper in ORDER ? (upper as LogLevel) : fallback;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string')
    return /^[\w.:/@+-]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value) ?? String(value);
}

export interface LoggerOptions {
  level?: LogLevel;
  component?: string;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'INFO';
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const component = options.component;

  const emit = (
    lineLevel: Exclude<LogLevel, 'SILENT'>,
    message: string,
    fields?: Record<string, unknown>,
  ) => {
    if (ORDER[lineLevel] < ORDER[level]) return;
    let line = `${new Date().toISOString()} ${lineLevel.padEnd(5)} ${component ? `[${component}] ` : ''}${message}`;
    let stack: string | undefined;
    for (const [key, value] of Object.entries(fields ?? {})) {
      if (value === undefined) continue;
      if (value instanceof Error && value.stack) stack = value.stack;
      line += ` ${key}=${formatValue(value)}`;
    }
    // Stack traces belong in the platform's log (never in a response).
    write(`${line}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`);
  };

  return {
    level,
    debug: (message, fields) => emit('DEBUG', message, fields),
    info: (message, fields) => emit('INFO', message, fields),
    warn: (message, fields) => emit('WARN', message, fields),
    error: (message, fields) => emit('ERROR', message, fields),
    child: (child) => createLogger({ level, write, component: component ? `${component}:${child}` : child }),
  };
}
