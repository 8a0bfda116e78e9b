/**
 * Stopping `replicator run`: the batch in flight is let finish, for at most
 * SHUTDOWN_TIMEOUT_MS; past it, or at a second SIGINT or SIGTERM, the stop
 * fails with SHUTDOWN_TIMEOUT and the caller exits at once. Nothing is lost
 * either way: a batch commits on the replica with its position or not at
 * all, and what was not committed is read again at the next start.
 */
import { ReplicatorError } from '../errors.js';

export const SHUTDOWN_TIMEOUT_MS = 30_000;

export async function stopWithin(stop: () => Promise<void>, timeoutMs = SHUTDOWN_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const cut = new Promise<never>((_, reject) => {
    const fail = (why: string) =>
      reject(
        new ReplicatorError(
          'SHUTDOWN_TIMEOUT',
          `${why}: exiting without waiting for the batch in flight; nothing is lost (the replica rolls back what it had not committed, and the next start reads it again)`,
        ),
      );
    timer = setTimeout(() => fail(`still stopping after ${timeoutMs / 1000} s`), timeoutMs);
    onSignal = (signal) => fail(`${signal} received while stopping`);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    await Promise.race([stop(), cut]);
  } finally {
    clearTimeout(timer);
    if (onSignal) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }
}
