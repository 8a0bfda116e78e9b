/**
 * Switching capture modes on a running installation, under writes: trigger
 * → logical → trigger, a writer inserting, updating and deleting all along
 * (also while no replicator runs). Each switch copies every table afresh in
 * the new mode (a trigger snapshot and a WAL position do not translate), so
 * the replica ends equal to the primary, with nothing lost and no row twice;
 * rows the copy finds identical are not rewritten. Back in trigger mode the
 * slot left by logical mode is dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useLogicalCapture, useTriggerCapture } from '../../src/capture/logical-capture.js';
import type { Service } from '../../src/service.js';
import { type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { startLogicalServers } from './logical-servers.js';

describe('switching capture modes under writes', () => {
  let servers: TestServers;
  let service: Service | undefined;
  let writing = true;
  let paused = false;
  let idle = false;
  let writer: Promise<void>;
  let written = 0;

  before(async () => {
    servers = await startLogicalServers();
    const pg = await import('pg');
    const client = new pg.default.Client(servers.primaryUrl);
    await client.connect();
    writer = (async () => {
      while (writing) {
        if (paused) {
          idle = true;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        idle = false;
        const i = written++;
        await client.query('INSERT INTO users (name, email) VALUES ($1, $2)', [`w${i}`, `w${i}@switch.example`]);
        if (i % 3 === 0)
          await client.query("UPDATE users SET name = name || '+' WHERE user_id = (SELECT max(user_id) - 1 FROM users)");
        if (i % 7 === 0) await client.query('DELETE FROM users WHERE user_id = (SELECT min(user_id) FROM users)');
        await new Promise((r) => setTimeout(r, 5));
      }
      await client.end();
    })();
  });
  after(async () => {
    writing = false;
    await writer;
    await service?.stop();
    await servers.stop();
  });

  // The owner switches the primary's capture (`CAPTURE_MODE=<mode> replicator init primary`), then the replicator restarts in that mode.
  const switchPrimary = async (mode: 'trigger' | 'logical') => {
    if (mode === 'logical') await useLogicalCapture(servers.primarySql);
    else await useTriggerCapture(servers.primarySql);
  };
  const captureTriggersOn = async () =>
    (
      await servers.primarySql.query(
        "SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'users_change_trigger%' AND tgenabled = 'A'",
      )
    ).rows[0].n;

  const phase = async (mode: 'trigger' | 'logical') => {
    await switchPrimary(mode);
    assert.equal(await captureTriggersOn(), mode === 'trigger' ? 4 : 0, `${mode}: capture triggers`);
    service = await startInProcess(servers, { CAPTURE_MODE: mode });
    const at = written;
    await waitFor(`${mode}: a position written in ${mode} mode`, async () => {
      const { rows } = await servers.replicaSql.query('SELECT mode FROM replicator.position');
      return rows[0]?.mode === mode;
    });
    await waitFor('writes during this phase', async () => written > at + 30);
    // Each mode on its own brings the replica to the primary's state.
    paused = true;
    await waitFor('the writer paused', async () => idle);
    await waitFor(
      `${mode}: equal`,
      async () =>
        JSON.stringify(await tableText(servers.replicaSql, 'users')) ===
        JSON.stringify(await tableText(servers.primarySql, 'users')),
      30_000,
    );
    paused = false;
    await service.stop();
    service = undefined;
  };

  it('trigger, then logical, then trigger: the replica ends equal to the primary', async () => {
    await phase('trigger');
    await phase('logical');
    await switchPrimary('trigger');
    service = await startInProcess(servers, { CAPTURE_MODE: 'trigger' });
    await waitFor('trigger mode again', async () => {
      const { rows } = await servers.replicaSql.query('SELECT mode FROM replicator.position');
      return rows[0]?.mode === 'trigger';
    });
    writing = false;
    await writer;
    await waitFor(
      'equal after the last write',
      async () =>
        JSON.stringify(await tableText(servers.replicaSql, 'users')) ===
        JSON.stringify(await tableText(servers.primarySql, 'users')),
      30_000,
    );
    const slots = await servers.primarySql.query(
      "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
    );
    assert.equal(slots.rows[0].n, 0, 'the slot left by logical mode was dropped');
  });
});
