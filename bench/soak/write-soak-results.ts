/**
 * The soak's raw figures as JSON under bench/results/, named like the bench's
 * (results.ts): soak-<date>-<shortcommit>.json for the default length, with
 * -<n>min appended for any other, so a short check never takes the name of a
 * full run. Invariant: failed runs are written too, with their failure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../paths.js';
import type { ReplicatorBuild } from '../replicator-process.js';
import type { Environment } from '../results.js';
import type { SoakFigures, SoakLoad } from './drive-soak.js';
import type { SoakVerdict } from './judge-soak.js';
import type { SoakSample } from './take-sample.js';

export interface SoakResults extends Environment {
  load: SoakLoad & { warmupMinutes: number; sampleEverySeconds: number };
  replicator: ReplicatorBuild;
  methodDescription: string;
  methodSettings: Record<string, string | boolean> | undefined;
  servers: { primary: Record<string, string>; replica: Record<string, string>; dataFileSystem: string };
  samples: SoakSample[];
  /** Absent when the run failed before the load ended. */
  figures?: SoakFigures & { replicaRows: Record<string, number>; readySeconds: number };
  verdict?: SoakVerdict;
  /** Why the run stopped early, when it did. */
  error?: string;
  passed: boolean;
  totalSeconds: number;
  loadAverageAtEnd: number;
}

/** Returns the file's path. */
export function writeSoakResults(results: SoakResults, defaultMinutes: number): string {
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const length = results.load.minutes === defaultMinutes ? '' : `-${results.load.minutes}min`;
  const file = path.join(dir, `soak-${results.date.slice(0, 10)}-${results.commit}${length}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
