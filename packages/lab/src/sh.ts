import { spawn } from 'node:child_process';
import { LabCommandError } from './errors.js';

/** Options for one lab command. */
export interface ShOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
  /** Exit codes that are outcomes, not failures. */
  okExitCodes?: readonly number[];
  /** What the lab is doing, for the error message. */
  what: string;
  /** Kill after this many milliseconds (default 60 s). */
  timeoutMs?: number;
}

/** Output and exit code of a finished lab command. */
export interface ShResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs one command as an argument array (never a shell string), optionally inside a namespace. */
export function sh(cmd: string, args: readonly string[], opts: ShOptions): Promise<ShResult> {
  const [file, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new LabCommandError(cmd, args, null, e.message, opts.what)));
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (code === 0 || (code !== null && opts.okExitCodes?.includes(code))) resolve({ stdout, stderr, exitCode: code });
      else reject(new LabCommandError(cmd, args, code, stderr, opts.what));
    });
  });
}
