/**
 * Test servers for logical mode: the usual pair (three roles, bystander
 * traps) with wal_level=logical, a short wal_sender_timeout (so a stream that
 * stops answering is dropped within the test), the replicator's primary login
 * given REPLICATION, and logical capture switched on by the owner as
 * `CAPTURE_MODE=logical replicator init primary` does (publication
 * pg_replicator, capture triggers disabled).
 */
import { useLogicalCapture } from '../../src/capture/logical-capture.js';
import { LOGICAL_SETTINGS } from '../support/capture-mode.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers } from '../support/servers.js';

export { LOGICAL_SETTINGS } from '../support/capture-mode.js';

export async function startLogicalServers(settings: Record<string, string> = {}): Promise<TestServers> {
  const servers = await startTestServers({ settings: { ...LOGICAL_SETTINGS, ...settings } });
  await servers.primarySql.query(`ALTER ROLE ${REPLICATOR_ROLE} REPLICATION`);
  await createPublication(servers);
  return servers;
}

/** As the owner, what `CAPTURE_MODE=logical replicator init primary` does: publication = set, capture triggers off. */
export async function createPublication(servers: TestServers): Promise<void> {
  await useLogicalCapture(servers.primarySql);
}

export const LOGICAL_ENV = { CAPTURE_MODE: 'logical' };
