/**
 * The command line's contract: one exit code per meaning, the same table in
 * the code, in --help and in the README; every command's --help has an
 * example. Runs the real commander program in-process (output captured).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { VERIFY_DIFFERENCES_EXIT } from '../../src/cli/verify-command.js';
import { ERROR_CODES, EXIT_CODES, errorCodesFor } from '../../src/errors.js';

async function helpOf(args: string[]): Promise<string> {
  const program = buildProgram();
  let out = '';
  const capture = (command: typeof program) => command.configureOutput({ writeOut: (text) => (out += text) });
  for (const command of [program, ...program.commands]) capture(command);
  await assert.rejects(program.parseAsync(['node', 'replicator', ...args]), (error) => {
    assert.ok(error instanceof CommanderError, String(error));
    assert.equal(error.exitCode, 0);
    return true;
  });
  return out;
}

describe('exit codes', () => {
  it('gives each exit code one meaning, and every error code an exit code from the table', () => {
    const exits = EXIT_CODES.map((e) => e.exit);
    assert.deepEqual(
      exits,
      [...new Set(exits)].sort((a, b) => a - b),
      'unique and in order',
    );
    for (const [code, { exit }] of Object.entries(ERROR_CODES)) assert.ok(exits.includes(exit), `${code} → ${exit}`);
    for (const exit of exits.filter((e) => e > 1)) assert.ok(errorCodesFor(exit).length > 0, `${exit} has an error code`);
    assert.equal(VERIFY_DIFFERENCES_EXIT, ERROR_CODES.VERIFY_DIFFERENCES.exit);
    // Usage errors and a failing replication no longer share 1 with internal errors.
    assert.notEqual(ERROR_CODES.USAGE.exit, 1);
    assert.notEqual(ERROR_CODES.REPLICATION_FAILING.exit, 1);
  });

  it('prints the same table in --help and in the README', async () => {
    const help = await helpOf(['--help']);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Exit codes'));
    for (const { exit, meaning } of EXIT_CODES) {
      assert.match(help, new RegExp(`^ {2}${exit} +${escapeRegExp(meaning)}`, 'm'), `--help: ${exit}`);
      const codes = errorCodesFor(exit).map((c) => `\`${c}\``);
      const row = `| \`${exit}\` | ${meaning} | ${codes.join(', ')} |`;
      assert.ok(section.includes(row), `README row:\n${row}`);
    }
    const rows =
      section
        .split('\n\n')[1]
        ?.split('\n')
        .filter((l) => /^\| `\d+`/.test(l)) ?? [];
    assert.equal(rows.length, EXIT_CODES.length, 'no other rows in the README table');
  });
});

describe('help', () => {
  it('has an example in every command', async () => {
    const program = buildProgram();
    assert.ok(program.commands.length >= 10);
    for (const name of ['', ...program.commands.map((c) => c.name())]) {
      const help = await helpOf(name ? [name, '--help'] : ['--help']);
      assert.match(help, /\nExamples?:\n {2}replicator /, `replicator ${name} --help`);
    }
  });

  it('prints the package version', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    assert.equal((await helpOf(['--version'])).trim(), version);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
