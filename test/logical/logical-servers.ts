/**
 * Test servers for logical mode: the usual pair (three roles, bystander
 * traps) with wal_level=logical, a short wal_sender_timeout (so a stream that
 * stops answering is dropped within the test), the replicator's primary login
 * given REPLICATION, and publication pg_replicator created by the owner as
 * `replicator init primary` does with CAPTURE_MODE=logical.
 */
import { syncPublication } from '../../src/capture/publication.js';
import { readRegistry } from '../../src/tables/registry.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers } from '../support/servers.js';

export const LOGICAL_SETTINGS = {
  wal_level: 'logical',
  max_replication_slots: '8',
  max_wal_senders: '8',
  wal_sender_timeout: '3s',
};

export async function startLogicalServers(): Promise<TestServers> {
  const servers = await startTestServers({ settings: LOGICAL_SETTINGS });
  await servers.primarySql.query(`ALTER ROLE ${REPLICATOR_ROLE} REPLICATION`);
  await createPublication(servers);
  return servers;
}

/** As the owner: the publication holds the replication set. */
export async function createPublication(servers: TestServers): Promise<void> {
  const tables = (await readRegistry(servers.primarySql)).map((e) => e.table);
  await syncPublication(servers.primarySql, tables, { create: true });
}

export const LOGICAL_ENV = { CAPTURE_MODE: 'logical' };
