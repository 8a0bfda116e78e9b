/**
 * TLS to the databases follows sslmode in the URL, with sslrootcert honoured:
 * verify-full with the right CA connects, with another CA it is refused with
 * a clear message, and the replicator replicates over TLS.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { connectionConfig } from '../../src/db/connect.js';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

function makeCertificates(dir: string): { ca: string; otherCa: string; cert: string; key: string } {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  for (const ca of ['ca', 'other-ca']) {
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${ca}`,
      '-keyout',
      f(`${ca}.key`),
      '-out',
      f(`${ca}.crt`),
    );
  }
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'));
  execFileSync('bash', ['-c', `printf 'subjectAltName=IP:127.0.0.1' > ${f('san.ext')}`]);
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt'),
  );
  // The server runs as user postgres and insists on a private key file.
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
  for (const file of ['server.key', 'server.crt']) chownSync(f(file), uid, gid);
  chmodSync(f('server.key'), 0o600);
  return { ca: f('ca.crt'), otherCa: f('other-ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

describe('TLS', () => {
  let dir: string;
  let servers: TestServers;
  let certs: ReturnType<typeof makeCertificates>;
  let service: Service | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pg-replicator-tls-'));
    chmodSync(dir, 0o755);
    // startTestServers creates the postgres user on a fresh machine; certificates need it first.
    servers = await startTestServers();
    certs = makeCertificates(dir);
    await servers.stop();
    servers = await startTestServers({ settings: { ssl: 'on', ssl_cert_file: certs.cert, ssl_key_file: certs.key } });
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const withSsl = (url: string, query: string) => `${url}?${query}`;

  it('connects with sslmode=verify-full and the right sslrootcert', async () => {
    const url = withSsl(servers.primaryUrl, `sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`);
    const result = await runCli(['install-primary'], { PRIMARY_DATABASE_URL: url, REPLICA_DATABASE_URL: servers.replicaUrl });
    assert.equal(result.code, 0, result.stderr);
  });

  it('refuses a server whose certificate another CA signed, saying so', async () => {
    const url = withSsl(servers.primaryUrl, `sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.otherCa)}`);
    const result = await runCli(['install-primary'], { PRIMARY_DATABASE_URL: url, REPLICA_DATABASE_URL: servers.replicaUrl });
    assert.equal(result.code, 3);
    assert.match(
      result.stderr,
      /^error \[DATABASE_UNREACHABLE\]: primary database .*TLS connection was refused .*certificate.*check sslmode and sslrootcert/,
    );
    assert.doesNotMatch(result.stderr, /s3cr3t/);
  });

  it('verify-ca checks the chain but not the host name; verify-full checks both', async () => {
    // The certificate names 127.0.0.1; "localhost" reaches the same server under another name.
    const byName = (query: string) => withSsl(servers.primaryUrl.replace('@127.0.0.1:', '@localhost:'), query);
    const ca = `sslrootcert=${encodeURIComponent(certs.ca)}`;
    const verifyCa = await runCli(['install-primary'], {
      PRIMARY_DATABASE_URL: byName(`sslmode=verify-ca&${ca}`),
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(verifyCa.code, 0, verifyCa.stderr);
    const otherCa = await runCli(['install-primary'], {
      PRIMARY_DATABASE_URL: byName(`sslmode=verify-ca&sslrootcert=${encodeURIComponent(certs.otherCa)}`),
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(otherCa.code, 3, 'verify-ca still checks the chain');
    const verifyFull = await runCli(['install-primary'], {
      PRIMARY_DATABASE_URL: byName(`sslmode=verify-full&${ca}`),
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(verifyFull.code, 3);
    assert.match(verifyFull.stderr, /TLS connection was refused .*localhost/);
  });

  it('uses TLS without being asked when the server offers it (sslmode prefer, the default)', async () => {
    const client = new pg.Client(connectionConfig(servers.primaryUrl, 'primary'));
    await client.connect();
    try {
      const { rows } = await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      assert.equal(rows[0]?.ssl, true);
    } finally {
      await client.end();
    }
  });

  it('refuses a missing sslrootcert file as a configuration error, before connecting', async () => {
    const url = withSsl(servers.primaryUrl, 'sslmode=verify-full&sslrootcert=/nonexistent/ca.pem');
    const result = await runCli(['run'], { PRIMARY_DATABASE_URL: url, REPLICA_DATABASE_URL: servers.replicaUrl });
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(
      result.stderr,
      /^error \[CONFIG_INVALID\]: PRIMARY_DATABASE_URL: sslrootcert file "\/nonexistent\/ca\.pem" cannot be read/,
    );
  });

  it('replicates over TLS (sslmode=require)', async () => {
    const tls = {
      primaryUrl: withSsl(servers.replicator.primaryUrl, 'sslmode=require'),
      replicaUrl: withSsl(servers.replicator.replicaUrl, `sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`),
    };
    service = await startInProcess({ ...servers, replicator: tls });
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('tls', 'tls@example.com')");
    await waitFor('the row over TLS', async () => (await tableText(servers.replicaSql, 'users')).length === 1);
    const { rows } = await servers.replicaSql.query(
      "SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'pg-replicator%' AND s.ssl",
    );
    assert.ok(rows[0].n >= 1, 'the replicator is connected with TLS');
  });
});
