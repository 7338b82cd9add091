import { spawn } from 'node:child_process';
import { CommandError } from './errors.js';

/** Where and how to run one host command. */
export interface ExecOptions {
  /** Run inside this network namespace (`ip netns exec <netns> ...`). */
  netns?: string;
  /** Extra environment on top of the worker's own (e.g. `OVS_RUNDIR`). */
  env?: Readonly<Record<string, string>>;
  /** Exit codes that are documented outcomes rather than failures; they are returned, not thrown. */
  okExitCodes?: readonly number[];
  /** What the caller is doing, for the error message (`add port veth-a1 to br-hv1`). */
  what?: string;
  /** Kill the command after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string;
}

/** What a finished command printed and how it exited. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs commands; drivers take one so tests can record or fake them. */
export type Exec = (cmd: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

/** Builds the argument array that runs `cmd args` inside `netns`, or as is without one. */
export function wrapNetns(cmd: string, args: readonly string[], netns?: string): [string, string[]] {
  if (!netns) return [cmd, [...args]];
  return ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

/**
 * Runs one command as an argument array (never through a shell). Resolves with its output when it
 * exits 0 or with one of `okExitCodes`; otherwise rejects with a {@link CommandError}.
 */
export const run: Exec = (cmd, args, opts = {}) => {
  const [file, argv] = wrapNetns(cmd, args, opts.netns);
  const fail = (exitCode: number | null, stderr: string, cause?: unknown): CommandError =>
    new CommandError({ cmd, args, exitCode, stderr: stderr.trim(), netns: opts.netns, what: opts.what, cause });
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(fail(null, e.message, e)));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 || (code !== null && opts.okExitCodes?.includes(code))) {
        resolve({ stdout, stderr, exitCode: code });
      } else {
        reject(fail(code, stderr));
      }
    });
    if (opts.input !== undefined && child.stdin) child.stdin.end(opts.input);
  });
};
