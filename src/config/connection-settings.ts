/**
 * Where and how to connect to one database, built the way libpq builds it, so
 * a URL and an environment that work with psql work here. What the URL says
 * wins; a part it leaves out comes from the libpq environment (PGHOST, PGPORT,
 * PGUSER, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGAPPNAME),
 * then from libpq's defaults. Both databases read the same PG* variables.
 * Pure: no I/O here (files are read in connectionConfig); a bad setting is one
 * ReplicatorError('CONFIG_INVALID') naming where it came from and the fix.
 */
import { ReplicatorError } from '../errors.js';

/** libpq's sslmode values, weakest first; `no-verify` is node-postgres' name for `require`. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface TlsSettings {
  mode: SslMode;
  /** A file, or `system` (the trusted roots of the machine); undefined: libpq's default file, if it exists. */
  rootCert: string | undefined;
  /** Client certificate and key files. */
  cert: string | undefined;
  key: string | undefined;
  /** Where each setting came from, for error messages (`PRIMARY_DATABASE_URL` or `PGSSLROOTCERT`). */
  rootCertFrom: string;
  certFrom: string;
  keyFrom: string;
}

export interface ConnectionTarget {
  /** A host name, an IP address, or a Unix-socket directory (starts with /). */
  host: string;
  port: number;
  user: string;
  database: string;
  /** The URL's password, else PGPASSWORD; undefined: look in the password file when the server asks. */
  password: string | undefined;
  /** The URL's application_name, else PGAPPNAME; undefined: the replicator names itself. */
  applicationName: string | undefined;
  tls: TlsSettings;
  /** The URL without the parts this module resolves, for the driver to read the rest (options, …). */
  url: string;
}

export interface DefaultIdentity {
  /** The operating-system user: libpq's default user name. */
  osUser: string;
}

/** The query parameters resolved here (the driver must not read them again). */
const RESOLVED_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'application_name', 'host', 'port', 'user', 'password'];

function fail(variable: string, message: string): never {
  throw new ReplicatorError('CONFIG_INVALID', `${variable}: ${message}`);
}

const nonEmpty = (value: string | null | undefined): string | undefined =>
  value === null || value === undefined || value === '' ? undefined : value;

function decode(variable: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    fail(variable, `has a malformed %-escape in "${text.replace(/:[^@]*@/, ':*****@')}"`);
  }
}

/**
 * Resolves one database's URL against the libpq environment. `variable` names
 * the URL's setting in messages (PRIMARY_DATABASE_URL).
 */
export function connectionTarget(
  variable: string,
  url: string,
  env: NodeJS.ProcessEnv,
  defaults: DefaultIdentity,
): ConnectionTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    fail(variable, 'is not a URL; expected postgresql://user:password@host:5432/dbname');
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    fail(variable, `has scheme "${parsed.protocol}"; expected postgresql://user:password@host:5432/dbname`);
  }
  const param = (name: string) => nonEmpty(parsed.searchParams.get(name));
  const fromEnv = (name: string) => nonEmpty(env[name]);

  const urlHost = nonEmpty(decode(variable, parsed.hostname).replace(/^\[(.+)\]$/, '$1'));
  const host = param('host') ?? urlHost ?? fromEnv('PGHOST') ?? 'localhost';
  if (host.includes(',')) fail(variable, `lists several hosts ("${host}"); give one host per database`);

  const portText = param('port') ?? nonEmpty(parsed.port) ?? fromEnv('PGPORT') ?? '5432';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    const from = (param('port') ?? nonEmpty(parsed.port)) ? variable : 'PGPORT';
    fail(from, `port "${portText}" is not a number from 1 to 65535`);
  }

  const user = param('user') ?? nonEmpty(decode(variable, parsed.username)) ?? fromEnv('PGUSER') ?? defaults.osUser;
  const path = nonEmpty(decode(variable, parsed.pathname.replace(/^\//, '')));
  const database = param('dbname') ?? path ?? fromEnv('PGDATABASE') ?? user;
  const password = param('password') ?? nonEmpty(decode(variable, parsed.password)) ?? fromEnv('PGPASSWORD');
  const applicationName = param('application_name') ?? fromEnv('PGAPPNAME');

  const tls = tlsSettings(variable, parsed.searchParams, env);

  const rest = new URL(parsed.toString());
  for (const name of [...RESOLVED_PARAMS, 'dbname']) rest.searchParams.delete(name);
  return { host, port, user, database, password, applicationName, tls, url: rest.toString() };
}

function tlsSettings(variable: string, params: URLSearchParams, env: NodeJS.ProcessEnv): TlsSettings {
  const pick = (param: string, envName: string): [string | undefined, string] => {
    const inUrl = nonEmpty(params.get(param));
    if (inUrl !== undefined) return [inUrl, variable];
    return [nonEmpty(env[envName]), envName];
  };
  const [modeText, modeFrom] = pick('sslmode', 'PGSSLMODE');
  const [rootCert, rootCertFrom] = pick('sslrootcert', 'PGSSLROOTCERT');
  const [cert, certFrom] = pick('sslcert', 'PGSSLCERT');
  const [key, keyFrom] = pick('sslkey', 'PGSSLKEY');

  let mode: SslMode;
  if (modeText === undefined) {
    // libpq: sslrootcert=system makes verify-full the default; otherwise prefer.
    mode = rootCert === 'system' ? 'verify-full' : 'prefer';
  } else if (modeText === 'no-verify') {
    mode = 'require';
  } else if ((SSL_MODES as readonly string[]).includes(modeText)) {
    mode = modeText as SslMode;
  } else {
    fail(modeFrom, `sslmode "${modeText}" is not one of ${SSL_MODES.join(', ')}`);
  }
  if (rootCert === 'system' && mode !== 'verify-full') {
    fail(
      modeFrom,
      `sslmode "${mode}" is too weak for sslrootcert=system (${rootCertFrom}); use sslmode=verify-full, as libpq requires`,
    );
  }
  if ((cert === undefined) !== (key === undefined) && mode !== 'disable') {
    const missing = cert === undefined ? 'sslcert' : 'sslkey';
    fail(cert === undefined ? keyFrom : certFrom, `a client certificate needs both sslcert and sslkey; ${missing} is not set`);
  }
  return { mode, rootCert, cert, key, rootCertFrom, certFrom, keyFrom };
}

/** host:port/database, to tell whether two URLs name the same database. */
export function databaseIdentity(target: ConnectionTarget): string {
  return `${target.host.toLowerCase()}:${target.port}/${target.database}`;
}
