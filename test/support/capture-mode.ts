/**
 * Which capture the core tests run with: `TEST_CAPTURE_MODE=logical` runs
 * them in logical decoding mode (`npm run test:core:logical`), so the same
 * tests hold both modes to the same results. Servers then get wal_level =
 * logical, the replicator's primary login REPLICATION, and the publication
 * the owner's `CAPTURE_MODE=logical replicator init primary` creates; every
 * replicator a test starts gets CAPTURE_MODE=logical unless the test sets
 * its own.
 */
export const TEST_LOGICAL = process.env.TEST_CAPTURE_MODE === 'logical';

/** Server settings logical decoding needs (a short wal_sender_timeout: a stream that stops answering is dropped within a test). */
export const LOGICAL_SETTINGS: Record<string, string> = {
  wal_level: 'logical',
  max_replication_slots: '8',
  max_wal_senders: '8',
  wal_sender_timeout: '3s',
};

/** The replicator's environment for the mode under test. */
export function captureEnv(): Record<string, string> {
  return TEST_LOGICAL ? { CAPTURE_MODE: 'logical' } : {};
}

/**
 * Logical mode only: until the replicator has started streaming (its slot
 * made, the first copy done). Creating a slot waits for every transaction in
 * progress, so a test that holds one open right after the start would wait
 * on itself. A replicator that exits, or never gets there (a test of a
 * failure), is left to the test.
 */
export async function streaming(state: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    // Running, or gone (a test of a crash): nothing more to wait for.
    const now = await state().catch(() => null);
    if (now === null || now === 'running') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
