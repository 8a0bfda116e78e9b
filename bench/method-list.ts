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

/**
 * What a run without --methods measures. ours-logical is opt-in
 * (--methods native,ours,ours-logical) until a full run has been made with
 * it and checked; then it joins the default.
 */
export const DEFAULT_METHODS: readonly ReplicationMethod[] = METHODS.filter((m) => m.name !== 'ours-logical');

/** The method the others' ratios are taken against. */
export const YARDSTICK = nativeMethod;
