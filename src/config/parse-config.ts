/**
 * Turns the environment (plus CLI overrides) into one validated Config.
 * Pure: no I/O, so every rule here is unit-tested. A bad value becomes one
 * ReplicatorError('CONFIG_INVALID') naming the variable and the fix.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { ReplicatorError } from '../errors.js';
import { type ConnectionTarget, connectionTarget, databaseIdentity } from './connection-settings.js';
import { parseDuration } from './parse-duration.js';

export interface Config {
  /** Both set, or both undefined (then `run` starts embedded servers). */
  primaryUrl: string | undefined;
  replicaUrl: string | undefined;
  pollIntervalMs: number;
  batchSize: number;
  /** Bytes of row text a batch carries in memory per table before it is streamed instead (BATCH_BYTES). */
  batchBytes: number;
  httpHost: string;
  /** When set, every API endpoint but /health requires `Authorization: Bearer <token>`. */
  apiToken: string | undefined;
  httpPort: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** LISTEN for the capture trigger's NOTIFY; off behind a transaction-mode pooler. */
  listen: boolean;
  /** How long acknowledged changes stay in the change log before they are deleted. */
  retentionMs: number;
  /** How often acknowledged changes past the retention are looked for and deleted. */
  pruneIntervalMs: number;
  /** Where the embedded default keeps its two servers' data. */
  dataDir: string;
  /** Tables to add to the replication set at start (schema.table; quoted identifiers allowed). */
  tables: string[];
  /** Rows per initial-copy chunk (the unit a crash resumes from). */
  copyChunkRows: number;
  /** Add a column the primary gained to the replica's table instead of pausing. */
  autoAddColumns: boolean;
  /** Continuous verification: the most of the wall time its work may take (0: off). */
  verifyShare: number;
  /** Where changes are captured: trigger change logs, the WAL (logical decoding), or whichever the primary allows. */
  captureMode: CaptureMode;
  /** CAPTURE_MODE was set (not the default): only then does `init primary` switch the primary back to trigger capture. */
  captureModeExplicit: boolean;
  /** Logical mode: the replication slot's name on the primary. */
  replicationSlot: string;
}

export const CAPTURE_MODES = ['trigger', 'logical', 'auto'] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

export type ConfigOverrides = Partial<Record<keyof typeof ENV_NAMES, string | undefined>>;

/** Config field → environment variable. */
export const ENV_NAMES = {
  primaryUrl: 'PRIMARY_DATABASE_URL',
  replicaUrl: 'REPLICA_DATABASE_URL',
  pollInterval: 'POLL_INTERVAL',
  batchSize: 'BATCH_SIZE',
  batchBytes: 'BATCH_BYTES',
  httpHost: 'HTTP_HOST',
  apiToken: 'API_TOKEN',
  httpPort: 'HTTP_PORT',
  logLevel: 'LOG_LEVEL',
  listen: 'USE_LISTEN',
  retention: 'RETENTION',
  pruneInterval: 'PRUNE_INTERVAL',
  dataDir: 'DATA_DIR',
  tables: 'TABLES',
  copyChunkRows: 'COPY_CHUNK_ROWS',
  autoAddColumns: 'AUTO_ADD_COLUMNS',
  verifyShare: 'VERIFY_SHARE',
  captureMode: 'CAPTURE_MODE',
  replicationSlot: 'REPLICATION_SLOT',
} as const;

const DEFAULTS = {
  pollInterval: '5s',
  batchSize: '5000',
  batchBytes: '16MB',
  httpHost: '127.0.0.1',
  httpPort: '8080',
  logLevel: 'info',
  listen: 'true',
  retention: '1h',
  pruneInterval: '1m',
  dataDir: '.replicator-data',
  tables: '',
  copyChunkRows: '20000',
  autoAddColumns: 'false',
  verifyShare: '0.05',
  captureMode: 'trigger',
  replicationSlot: 'pg_replicator',
};

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

function fail(variable: string, message: string): never {
  throw new ReplicatorError('CONFIG_INVALID', `${variable}: ${message}`);
}

/** Validates a database URL as libpq would read it (with the PG* environment filling its gaps). */
function postgresUrl(variable: string, value: string, env: NodeJS.ProcessEnv): ConnectionTarget {
  // The OS user only fills a name libpq would default; a placeholder keeps this pure.
  return connectionTarget(variable, value, env, { osUser: '(operating-system user)' });
}

/**
 * The Go demo's .env names (DATABASE_URL_HOST, ..._USER, ..._PASSWORD, ..._DBNAME and the
 * DATABASE_URL_REPLICATOR_* set): accepted when the URLs are not set, with the demo's
 * pooler port 6543 and sslmode=require, so moving from the demo needs no new .env.
 */
function demoUrl(env: NodeJS.ProcessEnv, prefix: string): string | undefined {
  const host = env[`${prefix}_HOST`];
  if (!host) return undefined;
  const url = new URL('postgresql://localhost');
  const [hostname, port] = host.split(':');
  url.hostname = hostname ?? host;
  url.port = port ?? '6543';
  url.username = env[`${prefix}_USER`] ?? 'postgres';
  url.password = env[`${prefix}_PASSWORD`] ?? '';
  url.pathname = `/${env[`${prefix}_DBNAME`] ?? 'postgres'}`;
  url.searchParams.set('sslmode', 'require');
  return url.toString();
}

export function parseConfig(env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): Config {
  const raw = (key: keyof typeof ENV_NAMES): string | undefined => {
    const value = overrides[key] ?? env[ENV_NAMES[key]];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const withDefault = (key: keyof typeof DEFAULTS): string => raw(key) ?? DEFAULTS[key];

  const primaryRaw = raw('primaryUrl') ?? demoUrl(env, 'DATABASE_URL');
  const replicaRaw = raw('replicaUrl') ?? demoUrl(env, 'DATABASE_URL_REPLICATOR');
  const primary = primaryRaw === undefined ? undefined : postgresUrl(ENV_NAMES.primaryUrl, primaryRaw, env);
  const replica = replicaRaw === undefined ? undefined : postgresUrl(ENV_NAMES.replicaUrl, replicaRaw, env);
  if ((primary === undefined) !== (replica === undefined)) {
    const missing = primary === undefined ? ENV_NAMES.primaryUrl : ENV_NAMES.replicaUrl;
    fail(missing, 'is not set; set both database URLs, or neither to run on embedded local servers');
  }
  if (primary && replica && databaseIdentity(primary) === databaseIdentity(replica)) {
    fail(ENV_NAMES.replicaUrl, 'is the same database as PRIMARY_DATABASE_URL; point it at another database');
  }
  const primaryUrl = primary ? primaryRaw : undefined;
  const replicaUrl = replica ? replicaRaw : undefined;

  const duration = (key: 'pollInterval' | 'retention' | 'pruneInterval', min: number): number => {
    const text = withDefault(key);
    const ms = parseDuration(text);
    if (ms === undefined) {
      fail(ENV_NAMES[key], `"${text}" is not a duration; use seconds (5) or a unit (250ms, 5s, 2m, 1h)`);
    }
    if (ms < min) fail(ENV_NAMES[key], `"${text}" is too short; the minimum is ${min} ms`);
    return ms;
  };
  const integer = (key: 'batchSize' | 'httpPort' | 'copyChunkRows', min: number, max: number): number => {
    const text = withDefault(key);
    const result = z.coerce.number().int().min(min).max(max).safeParse(text);
    if (!/^\d+$/.test(text) || !result.success) {
      fail(ENV_NAMES[key], `"${text}" is not a whole number from ${min} to ${max}`);
    }
    return result.data;
  };

  const logLevel = withDefault('logLevel').toLowerCase();
  const level = z.enum(LOG_LEVELS).safeParse(logLevel);
  if (!level.success) fail(ENV_NAMES.logLevel, `"${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const boolean = (key: 'listen' | 'autoAddColumns'): boolean => {
    const text = withDefault(key).toLowerCase();
    const parsed = z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']).safeParse(text);
    if (!parsed.success) fail(ENV_NAMES[key], `"${text}" is not true or false`);
    return ['true', '1', 'yes', 'on'].includes(parsed.data);
  };

  const share = (key: 'verifyShare'): number => {
    const text = withDefault(key);
    const value = Number(text);
    if (!/^\d*\.?\d+$/.test(text) || !(value >= 0 && value <= 1))
      fail(ENV_NAMES[key], `"${text}" is not a share of the time from 0 (off) to 1, e.g. 0.05 for 5%`);
    return value;
  };

  // [::1] and ::1 are one address; the API builds its URL with the brackets itself.
  const httpHost = withDefault('httpHost').replace(/^\[(.*)\]$/, '$1');
  if (/\s|\//.test(httpHost)) fail(ENV_NAMES.httpHost, `"${httpHost}" is not a host name or IP address`);
  const apiToken = raw('apiToken');
  if (apiToken !== undefined && apiToken.length < 16)
    fail(ENV_NAMES.apiToken, 'is shorter than 16 characters; use a long random value (openssl rand -hex 32)');
  if (apiToken === undefined && !isLoopback(httpHost)) {
    fail(
      ENV_NAMES.httpHost,
      `"${httpHost}" would expose the API beyond this machine without authentication; set API_TOKEN too (openssl rand -hex 32)`,
    );
  }

  const captureText = withDefault('captureMode').toLowerCase();
  const captureMode = z.enum(CAPTURE_MODES).safeParse(captureText);
  if (!captureMode.success) fail(ENV_NAMES.captureMode, `"${captureText}" is not one of ${CAPTURE_MODES.join(', ')}`);
  const replicationSlot = withDefault('replicationSlot');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(replicationSlot)) {
    fail(ENV_NAMES.replicationSlot, `"${replicationSlot}" is not a slot name (lower-case letters, digits and _, at most 63)`);
  }

  const bytesText = withDefault('batchBytes');
  const bytes = /^(\d+)\s*(B|kB|MB|GB)?$/i.exec(bytesText);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(bytes?.[2] ?? 'B').toLowerCase() as 'b'];
  const batchBytes = bytes ? Number(bytes[1]) * unit : Number.NaN;
  if (!(batchBytes >= 64 * 1024 && batchBytes <= 512 * 1024 ** 2)) {
    fail(ENV_NAMES.batchBytes, `"${bytesText}" is not a size from 64kB to 512MB (e.g. 16MB)`);
  }

  return {
    primaryUrl,
    replicaUrl,
    pollIntervalMs: duration('pollInterval', 10),
    batchSize: integer('batchSize', 1, 1_000_000),
    batchBytes,
    httpHost,
    apiToken,
    httpPort: integer('httpPort', 0, 65535),
    logLevel: level.data,
    listen: boolean('listen'),
    retentionMs: duration('retention', 0),
    pruneIntervalMs: duration('pruneInterval', 100),
    dataDir: withDefault('dataDir'),
    tables: splitTableList(withDefault('tables')),
    copyChunkRows: integer('copyChunkRows', 1, 10_000_000),
    autoAddColumns: boolean('autoAddColumns'),
    verifyShare: share('verifyShare'),
    captureMode: captureMode.data,
    captureModeExplicit: raw('captureMode') !== undefined,
    replicationSlot,
  };
}

/** "a, s.b, \"My Schema\".\"My, Table\"": commas inside double quotes belong to the name. */
export function splitTableList(text: string): string[] {
  const names: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      names.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  names.push(current.trim());
  return names.filter((n) => n.length > 0);
}

/** 127.0.0.0/8 and ::1; IPv4-mapped IPv6 addresses are checked against the IPv4 rule. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether listening on `host` keeps the API on this machine. Judged on the
 * address, never on how a name looks (127.evil.example is a public name):
 * only `localhost` and loopback IP literals (127.0.0.0/8, ::1, and IPv4
 * loopback mapped into IPv6) count. Names are not resolved: what a name
 * resolves to can change after this check.
 */
export function isLoopback(host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (address === 'localhost') return true;
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4');
}
