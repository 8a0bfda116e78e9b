/**
 * The `replicator` command's entry point. bin/replicator.js runs its compiled
 * form (dist/cli/bin.js); tests and development run this file through tsx.
 * Either way the process exits with the code main() set.
 */
import { main } from './main.js';

await main(process.argv);
