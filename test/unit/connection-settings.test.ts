/**
 * libpq's conventions for one database: the URL, then the PG* environment,
 * then libpq's defaults; sslmode with libpq's meaning; the password file; and
 * one configuration error naming the setting for anything wrong.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { connectionTarget } from '../../src/config/connection-settings.js';
import { parseConfig } from '../../src/config/parse-config.js';
import { findPgpassPassword } from '../../src/config/pgpass.js';
import { connectionConfig } from '../../src/db/connect.js';
import { ReplicatorError } from '../../src/errors.js';

const OS = { osUser: 'alice' };
const target = (url: string, env: NodeJS.ProcessEnv = {}) => connectionTarget('PRIMARY_DATABASE_URL', url, env, OS);

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ReplicatorError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.exitCode, 2);
    assert.doesNotMatch(error.message, /\n/);
    return error.message;
  }
  assert.fail('expected a configuration error');
}

describe('connection settings, as libpq builds them', () => {
  it('takes what the URL says over the PG* environment', () => {
    const t = target('postgresql://bob:pw@db.example.com:6432/app?application_name=mine&sslmode=require', {
      PGHOST: 'other',
      PGPORT: '1',
      PGUSER: 'carol',
      PGPASSWORD: 'envpw',
      PGDATABASE: 'otherdb',
      PGAPPNAME: 'envapp',
      PGSSLMODE: 'disable',
    });
    assert.deepEqual(
      [t.host, t.port, t.user, t.password, t.database, t.applicationName, t.tls.mode],
      ['db.example.com', 6432, 'bob', 'pw', 'app', 'mine', 'require'],
    );
  });

  it('fills what the URL leaves out from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGAPPNAME, PGSSLMODE', () => {
    const t = target('postgresql:///', {
      PGHOST: 'pg.internal',
      PGPORT: '6543',
      PGUSER: 'carol',
      PGPASSWORD: 'envpw',
      PGDATABASE: 'sales',
      PGAPPNAME: 'envapp',
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/etc/ca.pem',
    });
    assert.deepEqual(
      [t.host, t.port, t.user, t.password, t.database, t.applicationName, t.tls.mode, t.tls.rootCert],
      ['pg.internal', 6543, 'carol', 'envpw', 'sales', 'envapp', 'verify-full', '/etc/ca.pem'],
    );
  });

  it("falls back to libpq's defaults: localhost, 5432, the OS user, a database named like the user, sslmode prefer", () => {
    const t = target('postgresql://');
    assert.deepEqual(
      [t.host, t.port, t.user, t.database, t.password, t.tls.mode],
      ['localhost', 5432, 'alice', 'alice', undefined, 'prefer'],
    );
    assert.equal(target('postgresql:///app?host=/var/run/postgresql').host, '/var/run/postgresql');
  });

  it('rejects a bad sslmode, naming where it came from', () => {
    assert.match(
      configError(() => target('postgresql://h/db?sslmode=bogus')),
      /^PRIMARY_DATABASE_URL: sslmode "bogus" is not one of disable, allow, prefer, require, verify-ca, verify-full$/,
    );
    assert.match(
      configError(() => target('postgresql://h/db', { PGSSLMODE: 'on' })),
      /^PGSSLMODE: sslmode "on" is not one of/,
    );
  });

  it('makes sslrootcert=system mean verify-full, and refuses it with a weaker sslmode', () => {
    assert.equal(target('postgresql://h/db?sslrootcert=system').tls.mode, 'verify-full');
    assert.match(
      configError(() => target('postgresql://h/db?sslrootcert=system&sslmode=verify-ca')),
      /too weak for sslrootcert=system.*verify-full/,
    );
    assert.match(
      configError(() => target('postgresql://h/db?sslmode=require', { PGSSLROOTCERT: 'system' })),
      /too weak/,
    );
  });

  it('compares databases after filling the gaps, so the same database under two spellings is refused', () => {
    const env = {
      PRIMARY_DATABASE_URL: 'postgresql://u@localhost/app',
      REPLICA_DATABASE_URL: 'postgresql:///app',
      PGHOST: 'localhost',
    };
    assert.match(
      configError(() => parseConfig(env)),
      /^REPLICA_DATABASE_URL: is the same database as PRIMARY_DATABASE_URL/,
    );
    assert.ok(parseConfig({ ...env, REPLICA_DATABASE_URL: 'postgresql:///app_replica' }).replicaUrl);
  });
});

describe('connectionConfig: TLS files and modes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-conn-'));
  const ca = path.join(dir, 'ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  after(() => rmSync(dir, { recursive: true, force: true }));
  const config = (url: string, env: NodeJS.ProcessEnv = {}) => connectionConfig(url, 'primary', { env });
  const ssl = (url: string, env: NodeJS.ProcessEnv = {}) => config(url, env).ssl as Record<string, unknown> | false;

  it('maps every sslmode to its libpq meaning', () => {
    assert.equal(ssl('postgresql://h/db?sslmode=disable'), false);
    assert.equal(ssl('postgresql://h/db?sslmode=allow'), false);
    const prefer = config('postgresql://h/db');
    assert.equal(prefer.ssl, false, 'prefer: the socket negotiates TLS itself');
    assert.equal(typeof prefer.stream, 'function');
    assert.deepEqual(ssl('postgresql://h/db?sslmode=require'), { rejectUnauthorized: false });
    const requireWithRoot = ssl(`postgresql://h/db?sslmode=require&sslrootcert=${ca}`);
    assert.ok(requireWithRoot && typeof requireWithRoot.checkServerIdentity === 'function', 'require + root: verify-ca');
    const verifyCa = ssl(`postgresql://h/db?sslmode=verify-ca&sslrootcert=${ca}`);
    assert.ok(verifyCa && verifyCa.rejectUnauthorized === true && typeof verifyCa.checkServerIdentity === 'function');
    const verifyFull = ssl('postgresql://h/db?sslmode=verify-full', { PGSSLROOTCERT: ca });
    assert.ok(verifyFull && verifyFull.rejectUnauthorized === true && verifyFull.checkServerIdentity === undefined);
    assert.match(String(verifyFull.ca), /BEGIN CERTIFICATE/);
    const system = ssl('postgresql://h/db?sslrootcert=system');
    assert.ok(system && system.rejectUnauthorized === true && system.checkServerIdentity === undefined);
  });

  it('makes a missing TLS file one configuration error naming the setting and the fix', () => {
    assert.match(
      configError(() => config('postgresql://h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem')),
      /^PRIMARY_DATABASE_URL: sslrootcert file "\/nonexistent\/ca\.pem" cannot be read \(ENOENT\); fix the path, or use sslrootcert=system/,
    );
    assert.match(
      configError(() => config('postgresql://h/db?sslmode=verify-ca', { PGSSLROOTCERT: '/nonexistent/ca.pem' })),
      /^PGSSLROOTCERT: sslrootcert file/,
    );
    assert.match(
      configError(() => config('postgresql://h/db?sslmode=verify-full', { HOME: dir })),
      /sslmode "verify-full" needs the CA that signed the server's certificate.*sslrootcert=system/,
    );
    assert.match(
      configError(() => config('postgresql://h/db?sslcert=/x.crt')),
      /needs both sslcert and sslkey; sslkey is not set/,
    );
  });

  it('names the connection: the URL, then PGAPPNAME, then the replicator', () => {
    assert.equal(config('postgresql://h/db?application_name=a').application_name, 'a');
    assert.equal(config('postgresql://h/db', { PGAPPNAME: 'b' }).application_name, 'b');
    assert.equal(
      connectionConfig('postgresql://h/db', 'primary', { env: {}, applicationName: 'pg-replicator add' }).application_name,
      'pg-replicator add',
    );
    assert.equal(config('postgresql://h/db').application_name, 'pg-replicator');
  });
});

describe('the password file', () => {
  it('matches host, port, database and user, with * and escapes, first line winning', () => {
    const file = ['# comment', 'db.example.com:5432:app:bob:first', '*:*:app:bob:second', 'h\\:x:5432:*:*:p\\:w\\\\d', ''].join(
      '\n',
    );
    const find = (host: string, database = 'app', user = 'bob', port = 5432) =>
      findPgpassPassword(file, { host, port, database, user });
    assert.equal(find('db.example.com'), 'first');
    assert.equal(find('other'), 'second');
    assert.equal(find('h:x', 'any', 'anyone'), 'p:w\\d');
    assert.equal(find('other', 'nope', 'nobody'), undefined);
  });

  it('is ignored when others may read it, saying so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-pgpass-'));
    try {
      const file = path.join(dir, 'pgpass');
      writeFileSync(file, '*:*:*:*:secret\n');
      chmodSync(file, 0o644);
      const password = connectionConfig('postgresql://u@h/db', 'primary', { env: { PGPASSFILE: file } }).password;
      assert.equal(typeof password, 'function');
      await assert.rejects(
        async () => (password as () => Promise<string>)(),
        /readable by others, so it is ignored as libpq does: chmod 600/,
      );
      chmodSync(file, 0o600);
      assert.equal(await (password as () => Promise<string>)(), 'secret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
