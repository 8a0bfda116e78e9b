import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ENV_NAMES, isLoopback, parseConfig } from '../../src/config/parse-config.js';
import { parseDuration } from '../../src/config/parse-duration.js';
import { redactUrl } from '../../src/config/redact-url.js';
import { ReplicatorError } from '../../src/errors.js';

const urls = { PRIMARY_DATABASE_URL: 'postgresql://u:pw@h1:5432/a', REPLICA_DATABASE_URL: 'postgresql://u:pw@h2:5432/b' };

function configError(env: NodeJS.ProcessEnv): ReplicatorError {
  try {
    parseConfig(env);
  } catch (error) {
    assert.ok(error instanceof ReplicatorError);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.exitCode, 2);
    return error;
  }
  assert.fail('expected a configuration error');
}

describe('parseConfig', () => {
  it('has the demo defaults: 5 s poll, 127.0.0.1:8080, LISTEN on', () => {
    const c = parseConfig({});
    assert.equal(c.pollIntervalMs, 5000);
    assert.equal(c.httpHost, '127.0.0.1');
    assert.equal(c.httpPort, 8080);
    assert.equal(c.listen, true);
    assert.equal(c.primaryUrl, undefined);
  });

  it('reads every variable, and CLI overrides win', () => {
    const c = parseConfig(
      {
        ...urls,
        POLL_INTERVAL: '250ms',
        BATCH_SIZE: '100',
        HTTP_PORT: '9090',
        LOG_LEVEL: 'DEBUG',
        USE_LISTEN: 'false',
        RETENTION: '2m',
      },
      { httpPort: '9191' },
    );
    assert.equal(c.pollIntervalMs, 250);
    assert.equal(c.batchSize, 100);
    assert.equal(c.httpPort, 9191);
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.listen, false);
    assert.equal(c.retentionMs, 120_000);
  });

  it('names the variable and the fix for each bad value', () => {
    assert.match(configError({ POLL_INTERVAL: 'soon' }).message, /^POLL_INTERVAL: "soon" is not a duration/);
    assert.match(configError({ BATCH_SIZE: '0' }).message, /^BATCH_SIZE: "0" is not a whole number from 1/);
    assert.match(configError({ BATCH_SIZE: '12abc' }).message, /^BATCH_SIZE:/);
    assert.match(configError({ HTTP_PORT: '70000' }).message, /^HTTP_PORT: "70000" is not a whole number from 0 to 65535/);
    assert.match(configError({ LOG_LEVEL: 'loud' }).message, /^LOG_LEVEL: "loud" is not one of/);
    assert.match(configError({ USE_LISTEN: 'maybe' }).message, /^USE_LISTEN:/);
    assert.match(
      configError({ ...urls, PRIMARY_DATABASE_URL: 'mysql://x@h/db' }).message,
      /^PRIMARY_DATABASE_URL: has scheme "mysql:"/,
    );
    assert.match(configError({ ...urls, REPLICA_DATABASE_URL: 'not a url' }).message, /^REPLICA_DATABASE_URL: is not a URL/);
    assert.match(configError({ PRIMARY_DATABASE_URL: urls.PRIMARY_DATABASE_URL }).message, /^REPLICA_DATABASE_URL: is not set/);
    assert.match(
      configError({ ...urls, PRIMARY_DATABASE_URL: `${urls.PRIMARY_DATABASE_URL}?sslmode=bogus` }).message,
      /sslmode "bogus"/,
    );
  });

  it('never puts a password in an error message', () => {
    const error = configError({ ...urls, REPLICA_DATABASE_URL: urls.PRIMARY_DATABASE_URL });
    assert.doesNotMatch(error.message, /pw/);
  });

  it("accepts the Go demo's .env names, with its pooler port and sslmode=require", () => {
    const c = parseConfig({
      DATABASE_URL_HOST: 'db.example.com',
      DATABASE_URL_USER: 'postgres.abc',
      DATABASE_URL_PASSWORD: 'p@ss/word',
      DATABASE_URL_DBNAME: 'postgres',
      DATABASE_URL_REPLICATOR_HOST: 'replica.example.com',
      DATABASE_URL_REPLICATOR_USER: 'postgres.def',
      DATABASE_URL_REPLICATOR_PASSWORD: 'x',
      DATABASE_URL_REPLICATOR_DBNAME: 'postgres',
    });
    const primary = new URL(c.primaryUrl as string);
    assert.equal(primary.hostname, 'db.example.com');
    assert.equal(primary.port, '6543');
    assert.equal(decodeURIComponent(primary.password), 'p@ss/word');
    assert.equal(primary.searchParams.get('sslmode'), 'require');
    assert.equal(new URL(c.replicaUrl as string).hostname, 'replica.example.com');
  });
});

describe('CAPTURE_MODE', () => {
  it('defaults to trigger, accepts logical and auto, refuses anything else', () => {
    assert.equal(parseConfig({}).captureMode, 'trigger');
    assert.equal(parseConfig({ CAPTURE_MODE: 'Logical' }).captureMode, 'logical');
    assert.equal(parseConfig({ CAPTURE_MODE: 'auto' }).captureMode, 'auto');
    assert.throws(
      () => parseConfig({ CAPTURE_MODE: 'wal' }),
      /^ReplicatorError: CAPTURE_MODE: "wal" is not one of trigger, logical, auto/,
    );
    assert.equal(parseConfig({}).replicationSlot, 'pg_replicator');
    assert.throws(() => parseConfig({ REPLICATION_SLOT: 'My Slot' }), /REPLICATION_SLOT: "My Slot" is not a slot name/);
  });
});

describe('.env.example', () => {
  it('lists every setting', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    for (const name of [...Object.values(ENV_NAMES), 'DEMO_WRITER', 'PGHOST', 'PGPASSFILE', 'PGSSLMODE', 'PGAPPNAME']) {
      assert.match(example, new RegExp(`^# ${name}=`, 'm'), name);
    }
  });
});

describe('isLoopback', () => {
  it('accepts localhost and loopback addresses only, never a name that merely looks like one', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      assert.equal(isLoopback(host), true, host);
    }
    for (const host of [
      '127.evil.example',
      '127.0.0.1.nip.io',
      'localhost.evil.example',
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '::ffff:10.0.0.1',
    ]) {
      assert.equal(isLoopback(host), false, host);
    }
  });

  it('requires API_TOKEN for any other HTTP_HOST', () => {
    assert.match(configError({ HTTP_HOST: '127.evil.example' }).message, /^HTTP_HOST: "127\.evil\.example" would expose the API/);
    assert.equal(parseConfig({ HTTP_HOST: '127.evil.example', API_TOKEN: 'x'.repeat(16) }).httpHost, '127.evil.example');
    assert.equal(parseConfig({ HTTP_HOST: '[::1]' }).httpHost, '::1');
  });
});

describe('parseDuration', () => {
  it('reads units and bare seconds', () => {
    assert.equal(parseDuration('5'), 5000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('20ms'), 20);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('-1s'), undefined);
    assert.equal(parseDuration('5 parsecs'), undefined);
  });
});

describe('redactUrl', () => {
  it('hides the password and keeps the rest', () => {
    assert.equal(redactUrl('postgresql://u:secret@h:5432/db?sslmode=require'), 'postgresql://u:*****@h:5432/db?sslmode=require');
    assert.equal(redactUrl('postgresql://h/db?password=secret'), 'postgresql://h/db?password=*****');
  });
});
