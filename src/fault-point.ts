/**
 * Test hook: PG_REPLICATOR_FAULT_POINT=<name> kills the process with SIGKILL
 * when it reaches that point, so tests can crash it exactly between two steps
 * (e.g. after the replica commit, before the primary acknowledgment).
 */
export type FaultPointName = 'after-replica-commit' | 'before-replica-commit';

export function faultPoint(name: FaultPointName): void {
  if (process.env.PG_REPLICATOR_FAULT_POINT === name) process.kill(process.pid, 'SIGKILL');
}
