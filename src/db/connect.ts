/**
 * Connection pools for the two roles. Connection settings follow libpq (see
 * config/connection-settings.ts): the URL, then the PG* environment, then
 * libpq's defaults; sslmode has libpq's meaning (prefer: TLS when offered;
 * require: encrypted; verify-ca / verify-full: verified against sslrootcert),
 * so a URL that works with psql works here. A missing TLS file is a
 * configuration error before any connection is tried.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type pg from 'pg';
import { parse } from 'pg-connection-string';
import { type ConnectionTarget, connectionTarget, type TlsSettings } from '../config/connection-settings.js';
import { findPgpassPassword } from '../config/pgpass.js';
import { redactUrl } from '../config/redact-url.js';
import { ReplicatorError } from '../errors.js';
import { PreferTlsSocket } from './prefer-tls-socket.js';

export type DatabaseRole = 'primary' | 'replica';

/** application_name of `replicator run`; a CLI command names itself (`pg-replicator add`). */
export const SERVICE_APPLICATION_NAME = 'pg-replicator';
let applicationName = SERVICE_APPLICATION_NAME;

/** Names this process's connections (unless the URL or PGAPPNAME name them). */
export function setApplicationName(name: string): void {
  applicationName = name;
}

export interface ConnectionOptions {
  /** The libpq environment (PGHOST, …); default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Overrides the process-wide name set by setApplicationName. */
  applicationName?: string;
}

function osUser(env: NodeJS.ProcessEnv): string {
  try {
    return os.userInfo().username;
  } catch {
    return env.USER ?? env.USERNAME ?? 'postgres';
  }
}

function readTlsFile(file: string, setting: string, from: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw new ReplicatorError(
      'CONFIG_INVALID',
      `${from}: ${setting} file "${file}" cannot be read (${code}); fix the path${setting === 'sslrootcert' ? ", or use sslrootcert=system for the machine's trusted roots" : ''}`,
    );
  }
}

/** The trusted roots of the machine (Node 22.15+: also the operating system's store). */
function systemRoots(): string[] | undefined {
  const get = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  return get ? [...new Set([...get('default'), ...get('system')])] : undefined;
}

/** pg's ssl/stream options for libpq's sslmode. */
function tlsConfig(settings: TlsSettings, home: string): Pick<pg.ClientConfig, 'ssl' | 'stream'> {
  const { mode } = settings;
  if (mode === 'disable' || mode === 'allow') return { ssl: false };
  const clientCert =
    settings.cert && settings.key
      ? {
          cert: readTlsFile(settings.cert, 'sslcert', settings.certFrom),
          key: readTlsFile(settings.key, 'sslkey', settings.keyFrom),
        }
      : {};
  if (mode === 'prefer') {
    const options = { rejectUnauthorized: false, ...clientCert };
    return { ssl: false, stream: () => new PreferTlsSocket(options) as unknown as import('node:net').Socket };
  }
  // libpq's default root file is used when it exists; verify-* insist on a root.
  const defaultRoot = path.join(home, '.postgresql', 'root.crt');
  const rootFile = settings.rootCert ?? (fileExists(defaultRoot) ? defaultRoot : undefined);
  if (mode === 'require' && rootFile === undefined) return { ssl: { rejectUnauthorized: false, ...clientCert } };
  if (rootFile === undefined) {
    throw new ReplicatorError(
      'CONFIG_INVALID',
      `${settings.rootCertFrom}: sslmode "${mode}" needs the CA that signed the server's certificate, and there is no sslrootcert (nor ${defaultRoot}); set sslrootcert=/path/ca.pem (or PGSSLROOTCERT), or sslrootcert=system to trust the machine's roots`,
    );
  }
  const ca = rootFile === 'system' ? systemRoots() : readTlsFile(rootFile, 'sslrootcert', settings.rootCertFrom);
  // require with a root file is verify-ca, as in libpq: the chain is checked, the host name is not.
  const checkName = mode === 'verify-full';
  return { ssl: { ca, rejectUnauthorized: true, ...(checkName ? {} : { checkServerIdentity: () => undefined }), ...clientCert } };
}

function fileExists(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** libpq's password file, read when the server asks for a password that neither the URL nor PGPASSWORD gave. */
function passwordFromFile(target: ConnectionTarget, env: NodeJS.ProcessEnv, home: string, where: string) {
  return async (): Promise<string> => {
    const file = env.PGPASSFILE || path.join(home, '.pgpass');
    const none = (why: string) =>
      new ReplicatorError(
        'AUTH_FAILED',
        `${where}: the server asks for a password and none is given (${why}); put it in the URL, in PGPASSWORD or in the password file`,
      );
    let text: string;
    try {
      const stat = statSync(file);
      if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
        throw none(`${file} is readable by others, so it is ignored as libpq does: chmod 600 ${file}`);
      }
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if (error instanceof ReplicatorError) throw error;
      throw none(`no password file ${file}`);
    }
    const password = findPgpassPassword(text, target);
    if (password === undefined)
      throw none(`no line of ${file} matches ${target.host}:${target.port}:${target.database}:${target.user}`);
    return password;
  };
}

/**
 * The driver's settings for one database: the URL resolved against the libpq
 * environment (PG* variables, the password file, libpq's defaults).
 */
export function connectionConfig(url: string, role: DatabaseRole, options: ConnectionOptions = {}): pg.ClientConfig {
  const env = options.env ?? process.env;
  const variable = role === 'primary' ? 'PRIMARY_DATABASE_URL' : 'REPLICA_DATABASE_URL';
  const target = connectionTarget(variable, url, env, { osUser: osUser(env) });
  const home = env.HOME || os.homedir();
  // The parameters resolved above are gone from target.url; the driver reads the others (options, …).
  const { user: _u, password: _p, host: _h, port: _o, database: _d, ssl: _s, ...others } = parse(target.url);
  const rest = Object.fromEntries(Object.entries(others).filter(([, v]) => v !== null && v !== undefined && v !== ''));
  return {
    ...rest,
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    password: target.password ?? passwordFromFile(target, env, home, `${role} database ${redactUrl(url)}`),
    application_name: target.applicationName ?? options.applicationName ?? applicationName,
    ...tlsConfig(target.tls, home),
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
}
