import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../..', import.meta.url));

/** Runs `fjordctl <args>` as a child process from the repository root; resolves with its stderr and exit code. */
function fjordctl(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 });
    });
  });
}

// The demo refuses these while parsing, before it starts anything, so the tests need no server.
describe('fjordctl demo refuses bad options', () => {
  it('names --hosts and the minimum when given fewer than 3 hosts', async () => {
    const run = await fjordctl('demo', '--hosts', '2');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`error: option '--hosts <n>' argument '2' is invalid. expected a host count from 3 (each tenant spreads one container per host) to 64, got "2"`);
    expect(run.stdout).toBe('');
  }, 30_000);

  it('names --name and the allowed characters when given a bad name', async () => {
    const run = await fjordctl('demo', '--name', 'BAD');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`error: option '--name <name>' argument 'BAD' is invalid. expected 1-8 of a-z0-9, starting with a letter, got "BAD"`);
    expect(run.stdout).toBe('');
  }, 30_000);
});
