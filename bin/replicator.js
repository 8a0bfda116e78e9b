#!/usr/bin/env node
// The installed `replicator` command: runs the compiled program in dist/
// (`npm run build` makes it; the published package ships it). No TypeScript
// loader at run time.
try {
  await import('../dist/cli/bin.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli/bin.js')) {
    process.stderr.write('error: dist/ is missing (a source checkout that was not built); run `npm run build` first\n');
    process.exit(1);
  }
  throw error;
}
