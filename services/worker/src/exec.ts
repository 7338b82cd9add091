import { spawn, type ChildProcess } from 'node:child_process';
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

/** How long to keep reading output after the command exits, when something else still holds its pipes. */
const PIPE_DRAIN_MS = 50;
/** How long to wait for a killed command to be reaped before giving up on it (e.g. stuck in the kernel). */
const KILL_GRACE_MS = 2_000;

/** SIGKILLs the process group `child` leads (see `detached` below), or the child alone if that fails. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/**
 * Runs one command as an argument array (never through a shell). Resolves with its output when it
 * exits 0 or with one of `okExitCodes`; otherwise rejects with a {@link CommandError}.
 *
 * The command leads its own process group, so a timeout kills whatever it started too (a template
 * script's helpers), and the result does not wait for background processes that inherited its
 * stdout or stderr: it settles shortly after the command itself exits.
 */
export const run: Exec = (cmd, args, opts = {}) => {
  const [file, argv] = wrapNetns(cmd, args, opts.netns);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const fail = (exitCode: number | null, stderr: string, cause?: unknown): CommandError =>
    new CommandError({ cmd, args, exitCode, stderr: stderr.trim(), netns: opts.netns, what: opts.what, cause });
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // Its own process group, so a timeout can kill the command and everything it started.
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));

    let settled = false;
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    const later = (ms: number, fn: () => void): NodeJS.Timeout => {
      const t = setTimeout(fn, ms);
      timers.push(t);
      return t;
    };
    // 'exit', 'close', 'error' and the timers can each end the run; only the first one counts.
    const settle = (code: number | null, spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) {
        // CommandError's message shows stderr, so the reason goes first there.
        const reason = `timed out after ${timeoutMs} ms`;
        const partial = stderr.trim();
        reject(fail(null, partial ? `${reason}: ${partial}` : reason, new Error(reason)));
      } else if (spawnError) {
        reject(fail(null, spawnError.message, spawnError));
      } else if (code === 0 || (code !== null && opts.okExitCodes?.includes(code))) {
        resolve({ stdout, stderr, exitCode: code });
      } else {
        reject(fail(code, stderr));
      }
    };

    const stopReading = (): void => {
      child.stdout?.destroy();
      child.stderr?.destroy();
    };
    const killTimer = later(timeoutMs, () => {
      timedOut = true;
      killGroup(child);
      // SIGKILL cannot interrupt a process stuck in the kernel; do not wait on it forever.
      later(KILL_GRACE_MS, () => {
        stopReading();
        settle(null);
      });
    });
    child.on('error', (e) => settle(null, e));
    child.on('exit', (code) => {
      clearTimeout(killTimer);
      // Background processes may still hold the pipes, and 'close' waits for them; read what the
      // command itself wrote, then stop listening.
      later(PIPE_DRAIN_MS, () => {
        stopReading();
        settle(code);
      });
    });
    child.on('close', (code) => settle(code));
    if (opts.input !== undefined && child.stdin) child.stdin.end(opts.input);
  });
};
