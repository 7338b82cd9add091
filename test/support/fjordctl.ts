/** Runs `fjordctl` as a child process, the way an operator would, for tests. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** What a `fjordctl` run printed and how it exited. */
export interface FjordctlRun {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs `fjordctl <args>` from the repository root; a non-zero exit is returned, not thrown. */
export function runFjordctl(args: readonly string[]): Promise<FjordctlRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', ...args], { cwd: root, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}
