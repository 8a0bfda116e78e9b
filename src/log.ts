/**
 * One logger for the whole process: readable lines on a terminal, JSON lines
 * otherwise (for log shippers). Library code never writes to the console.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const usePretty = options.pretty ?? process.stdout.isTTY === true;
  const base = { level, base: undefined, redact: ['password', '*.password', 'url', '*.url'] };
  return usePretty
    ? pino(base, pretty({ colorize: true, sync: true, singleLine: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }))
    : pino(base);
}
