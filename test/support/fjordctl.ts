/** Runs `fjordctl` as a child process, the way an operator would, for tests. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
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

/** A `fjordctl` command left running (`sim`, `watch`), with what it has printed so far. */
export interface RunningFjordctl {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output holds `text`; rejects if the command exits first or `ms` pass. */
  waitFor(text: string, ms?: number): Promise<void>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `fjordctl <args>` and leaves it running. */
export function startFjordctl(args: readonly string[]): RunningFjordctl {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    waitFor: async (text, ms = 30_000) => {
      const deadline = Date.now() + ms;
      while (!output.includes(text)) {
        if (child.exitCode !== null) throw new Error(`fjordctl ${args.join(' ')} exited (${child.exitCode}) before printing "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`fjordctl ${args.join(' ')} did not print "${text}" within ${ms / 1000} s:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
