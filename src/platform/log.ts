import pino from 'pino';

/** Logs go to stderr as JSON lines, so stdout stays free for command output (`apikey create`, `bench`). */
export function createLogger(level: string) {
  return pino({ level, base: { app: 'carevoice' }, redact: ['req.headers.authorization', 'req.headers.cookie'] }, pino.destination(2));
}
