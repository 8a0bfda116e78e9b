/**
 * One replication run, for either method, on fresh tables: what every
 * comparative workload starts with. Both methods see the same servers, the
 * same table definitions and the same writers; only the replication differs.
 */
import {
  describeSubscription,
  type NativeSettings,
  startNativeReplication,
  stopNativeReplication,
} from './native-replication.js';
import { type OursOptions, startOurs } from './ours-replication.js';
import { resetPrimary, resetReplica } from './schema.js';
import type { BenchServers } from './servers.js';

export type Method = 'native' | 'ours';
export const METHODS: readonly Method[] = ['native', 'ours'];

export interface ReplicationRun {
  method: Method;
  /** The native subscription's effective settings; undefined for ours. */
  native?: NativeSettings;
  stop(): Promise<void>;
  /** What to add to a failure message: the replication's own account of its state. */
  diagnose(): Promise<string>;
}

export interface RunOptions {
  /** Add the replica's arrived_at column and trigger (lag workloads). */
  arrivalStamp?: boolean;
  ours?: OursOptions;
}

/** Fresh tables on both servers, no replication running: also the state left for the next run. */
export async function resetBoth(servers: BenchServers, options: { capture: boolean; arrivalStamp?: boolean }): Promise<void> {
  await stopNativeReplication(servers.primary, servers.replica);
  await resetPrimary(servers.primary, { capture: options.capture });
  await resetReplica(servers.replica, { arrivalStamp: options.arrivalStamp ?? false });
}

export async function startReplication(
  servers: BenchServers,
  method: Method,
  timeoutMs: number,
  options: RunOptions = {},
): Promise<ReplicationRun> {
  // Native runs without our capture triggers, so they cost it nothing.
  await resetBoth(servers, { capture: method === 'ours', arrivalStamp: options.arrivalStamp });
  const urls = { primaryUrl: servers.primaryUrl, replicaUrl: servers.replicaUrl };
  if (method === 'native') {
    const native = await startNativeReplication(servers.primary, servers.replica, servers.primaryUrl, timeoutMs);
    return {
      method,
      native,
      stop: () => stopNativeReplication(servers.primary, servers.replica),
      diagnose: () => describeSubscription(servers.replica),
    };
  }
  const ours = await startOurs(servers.primary, urls, timeoutMs, options.ours);
  return { method, ...ours };
}
