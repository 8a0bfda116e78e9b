// Builds the runnable package: dist/ holds the compiled JavaScript of src/
// (tsc) and the dashboard's static files, so dist/ runs on its own. dist/ is
// emptied first, so a file removed from src/ never lingers in a package.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(`${root}dist`, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}src/api/dashboard`, `${root}dist/api/dashboard`, { recursive: true });
