/**
 * The dashboard at GET /, in headless Chromium (Debian's, through
 * playwright-core: no browser is downloaded) against a real primary and
 * replica: its figures follow the writes, it shows a replica rejecting a row
 * and the recovery, initial-copy bars, the demo writer moving it, and a
 * replicator that went away. Screenshots (laptop and phone) go to test-output/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { DEMO_EMAIL_DOMAIN, startDemoWriter } from '../../src/embedded/demo-writer.js';
import { createLogger } from '../../src/log.js';
import type { Service } from '../../src/service.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../../test-output/', import.meta.url));
const WAIT = { timeout: 15_000, polling: 50 } as const;

// Skipped on a laptop without Chromium; under CI (.ci/run sets CI=true) a missing browser fails.
const skip = existsSync(CHROMIUM) || process.env.CI ? false : `${CHROMIUM} is missing (apt-get install chromium)`;

describe('dashboard', { skip }, () => {
  let servers: TestServers;
  let service: Service | undefined;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(OUTPUT, { recursive: true });
    servers = await startTestServers();
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
    // launch() runs the browser on a fresh temporary profile, removed on close.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().includes('Failed to fetch') && !m.text().includes('ERR_CONNECTION_REFUSED'))
        problems.push(m.text());
    });
    await page.goto(`${service.url}/`);
    after(() => assert.deepEqual(problems, [], 'no script error or CSP violation in the page'));
  });
  after(async () => {
    await browser?.close();
    await service?.stop();
    await servers?.stop();
  });

  const text = async (id: string) => (await page.locator(`#${id}`).textContent()) ?? '';
  /** Waits until #id's text is `expected` (or matches it). */
  const expectText = async (id: string, expected: string | RegExp) => {
    await page
      .waitForFunction(
        ([id, source, flags]) => {
          const value = document.getElementById(id as string)?.textContent ?? '';
          return new RegExp(source as string, flags as string).test(value);
        },
        typeof expected === 'string'
          ? [id, `^${expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, '']
          : [id, expected.source, expected.flags],
        WAIT,
      )
      .catch(async (error) => {
        throw new Error(`#${id} never showed ${expected}; it shows "${await text(id)}" (${(error as Error).message})`);
      });
  };
  const screenshot = (name: string, target: Page = page) =>
    target.screenshot({ path: path.join(OUTPUT, `dashboard-${name}.png`), fullPage: true });

  it('shows a running replicator with nothing replicated yet', async () => {
    await expectText('state', 'running');
    await expectText('records', '0');
    assert.equal(await page.locator('#error').isVisible(), false);
    assert.equal(await page.locator('#copy').isVisible(), false, 'no initial-copy section without copy info');
    await expectText('primary', 'reachable');
    await expectText('replica', 'reachable');
    assert.equal(await page.title(), 'pg-replicator');
  });

  it('follows the writes on the primary: records, per-table row, last change id, throughput, lag', async () => {
    await servers.primarySql.query(
      "INSERT INTO users (name, email) VALUES ('Alice Johnson', 'alice@example.com'), ('Bob Smith', 'bob@example.com'), ('Charlie Brown', 'charlie@example.com')",
    );
    await expectText('records', '3');
    await servers.primarySql.query("UPDATE users SET email = 'alice.j@example.com' WHERE name = 'Alice Johnson'");
    await servers.primarySql.query("DELETE FROM users WHERE name = 'Charlie Brown'");
    await expectText('records', '5');
    await expectText('last-lsn', '5');
    const row = page.locator('#tables tbody tr[data-table="users"]');
    await row.waitFor(WAIT);
    assert.deepEqual(
      await row
        .locator('td')
        .allTextContents()
        .then((cells) => cells.slice(0, 2)),
      ['users', '5'],
    );
    assert.match((await row.locator('td').nth(2).textContent()) ?? '', /just now|s ago/);
    assert.equal(await page.locator('#tables-empty').isVisible(), false);
    await expectText('throughput', /^[1-9][\d.,]*$/);
    await expectText('lag', /^\d[\d.,]* (ms|s)$/);
    await expectText('backlog', '0');
    await expectText('batches', /^in [1-9]\d* batch(es)? since start$/);
    await page.locator('#lag-chart path.line').waitFor({ state: 'attached', ...WAIT });
    await page.locator('#rate-chart path.line').waitFor({ state: 'attached', ...WAIT });
  });

  it('shows initial-copy progress bars when /status has copy info', async () => {
    assert.ok(service);
    service.status.recordInitialCopy('users', 1200, 5000);
    const item = page.locator('#copy-list li[data-table="users"]');
    await item.waitFor(WAIT);
    assert.equal(await page.locator('#copy').isVisible(), true);
    assert.match((await item.textContent()) ?? '', /1,200 \/ ~5,000 rows/);
    assert.equal(await item.locator('.bar').getAttribute('aria-valuenow'), '24');
    await screenshot('laptop');
  });

  it('shows the replica rejecting a row as failing, with the error, then the recovery', async () => {
    await servers.replicaSql.query("ALTER TABLE users ADD CONSTRAINT no_mallory CHECK (name <> 'Mallory')");
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Mallory', 'mallory@example.com')");
    await expectText('state', 'failing');
    await page.locator('#error').waitFor({ state: 'visible', ...WAIT });
    await expectText('error-message', /no_mallory/);
    await expectText('error-code', 'CHANGE_REJECTED');
    await expectText('records', '5');
    assert.match(await page.title(), /failing/);
    await screenshot('failing');

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, deviceScaleFactor: 2 });
    await phone.goto(`${service?.url}/`);
    await phone.waitForFunction(() => document.getElementById('state')?.textContent === 'failing', undefined, WAIT);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (${overflow}px too wide)`);
    await screenshot('phone', phone);
    await phone.close();

    await servers.replicaSql.query('ALTER TABLE users DROP CONSTRAINT no_mallory');
    await expectText('state', 'running');
    await expectText('records', '6');
    await page.locator('#error').waitFor({ state: 'hidden', ...WAIT });
  });

  it('moves with the demo writer, which touches only its own rows', async () => {
    const before = await tableText(servers.primarySql, 'users');
    const recordsBefore = Number((await text('records')).replace(/\D/g, ''));
    const writer = startDemoWriter(servers.primaryUrl, createLogger('silent', { pretty: false }), {
      minDelayMs: 20,
      maxDelayMs: 60,
    });
    try {
      await page.waitForFunction(
        (n) => Number(document.getElementById('records')?.textContent?.replace(/\D/g, '')) >= n,
        recordsBefore + 20,
        WAIT,
      );
      await waitFor('the writer updated and deleted rows', async () => {
        const { rows } = await servers.primarySql.query<{ op: string }>(
          'SELECT DISTINCT operation AS op FROM user_changes ORDER BY 1',
        );
        return rows.map((r) => r.op).join() === 'DELETE,INSERT,UPDATE';
      });
    } finally {
      await writer.stop();
    }
    assert.ok(writer.writes > 0);
    const others = (await tableText(servers.primarySql, 'users')).filter((r) => !r.includes(`@${DEMO_EMAIL_DOMAIN}`));
    assert.deepEqual(others, before, "the demo's own rows are untouched");
    const mine = await servers.primarySql.query(`SELECT count(*)::int AS n FROM users WHERE email LIKE '%@${DEMO_EMAIL_DOMAIN}'`);
    assert.ok(mine.rows[0].n <= 30, 'the writer keeps its rows bounded');
    await waitFor('the replica caught up with the writer', async () => {
      return (
        JSON.stringify(await tableText(servers.replicaSql, 'users')) ===
        JSON.stringify(await tableText(servers.primarySql, 'users'))
      );
    });
  });

  it('shows a row continuous verification found different on the replica, until it is fixed', async () => {
    const { rows } = await servers.replicaSql.query<{ user_id: string; name: string }>(
      "SELECT user_id::text, name FROM users WHERE name = 'Alice Johnson'",
    );
    const alice = rows[0];
    assert.ok(alice);
    // Behind the replicator's back, as a superuser on the replica would.
    await servers.replicaSql.query("UPDATE users SET name = 'Eve' WHERE user_id = $1", [alice.user_id]);
    await page.locator('#divergence').waitFor({ state: 'visible', timeout: 60_000 });
    await expectText('state', 'degraded');
    await expectText('divergence-title', 'Replica differs from primary: 1 row');
    assert.deepEqual(await page.locator('#divergence-list li').allTextContents(), [
      `users {"user_id" : ${alice.user_id}}: different`,
    ]);
    const row = page.locator('#verify-tables tbody tr[data-table="users"]');
    assert.equal(await row.locator('td').nth(1).textContent(), '1');
    assert.match((await row.locator('td').nth(2).textContent()) ?? '', /just now|s ago/);
    assert.match(await text('verify-note'), /at most 5% of the time/);
    await screenshot('degraded');

    await servers.replicaSql.query('UPDATE users SET name = $2 WHERE user_id = $1', [alice.user_id, alice.name]);
    await page.locator('#divergence').waitFor({ state: 'hidden', timeout: 60_000 });
    await expectText('state', 'running');
  });

  it('says so when the replicator stops answering', async () => {
    await service?.stop();
    service = undefined;
    await expectText('state', 'unreachable');
    await page.locator('#error').waitFor({ state: 'visible', ...WAIT });
    await expectText('error-title', 'The replicator does not answer');
  });
});
