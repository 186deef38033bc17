// Structured logs (pino, JSON lines on stderr so stdout stays for command output).
import { pino, destination, type Logger } from 'pino';

export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { component: 'xlb' } }, destination(2));
}
