/**
 * libpq's password file (~/.pgpass, or the file PGPASSFILE names): lines of
 * hostname:port:database:username:password, `*` matching anything, `\:` and
 * `\\` escaping; the first line that matches wins. As libpq does, a file that
 * others may read is ignored (the caller says why), and a Unix-socket
 * connection matches the host name `localhost`.
 */
import type { ConnectionTarget } from './connection-settings.js';

type Entry = [host: string, port: string, database: string, user: string, password: string];

function fields(line: string): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
    } else if (ch === ':' && out.length < 4) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

export function parsePgpass(text: string): Entry[] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map(fields)
    .filter((f): f is Entry => f.length === 5);
}

/** The password for this connection, or undefined when no line matches. */
export function findPgpassPassword(
  text: string,
  target: Pick<ConnectionTarget, 'host' | 'port' | 'database' | 'user'>,
): string | undefined {
  const host = target.host.startsWith('/') ? 'localhost' : target.host;
  const wanted = [host, String(target.port), target.database, target.user];
  const entry = parsePgpass(text).find((e) => wanted.every((value, i) => e[i] === '*' || e[i] === value));
  return entry?.[4];
}
