/**
 * The methods every comparative workload runs, in this order, the yardstick
 * first. A new method is one more entry (and its name in METHOD_NAMES).
 */
import type { ReplicationMethod } from './methods.js';
import { nativeMethod } from './native-replication.js';
import { oursMethod } from './ours-replication.js';

export const METHODS: readonly ReplicationMethod[] = [
  nativeMethod,
  oursMethod({ name: 'ours', listens: true }),
  // install-primary with CAPTURE_MODE=logical creates the publication; the bench logs in as the superuser (REPLICATION).
  oursMethod({ name: 'ours-logical', env: { CAPTURE_MODE: 'logical' }, listens: false }),
];

/** The method the others' ratios are taken against. */
export const YARDSTICK = nativeMethod;
