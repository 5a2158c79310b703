import pino from 'pino';

export type Logger = pino.Logger;

/** JSON logs on stdout. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level });
}
