/**
 * Fjord's own services as child processes of the demo: `node --import tsx <entry>`, output to a log
 * file, killed when the demo process exits however it exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root (services/cli/src/demo → ../../../..). */
export const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** A running service process. */
export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The last `lines` lines this process wrote to its log, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start one service. */
export interface ServiceOptions {
  name: string;
  /** Entry file relative to the repository root, e.g. `services/scheduler/src/main.ts`. */
  entry: string;
  args?: readonly string[];
  env?: Readonly<Record<string, string>>;
  logFile: string;
  /** Resolve once the log contains this text (default: as soon as it is spawned). */
  readyText?: string;
  readyTimeoutMs?: number;
}

/** Starts a service and, with `readyText`, waits until it says it is ready. */
export async function startService(opts: ServiceOptions): Promise<ServiceProcess> {
  const fd = openSync(opts.logFile, 'a');
  // A restarted service appends to its predecessor's log: only what this one writes counts.
  const start = fstatSync(fd).size;
  const child = spawn(process.execPath, ['--import', 'tsx', `${repoRoot}${opts.entry}`, ...(opts.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reap = (): void => void child.kill('SIGKILL');
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));

  const output = (): string => {
    try {
      return readFileSync(opts.logFile).subarray(start).toString('utf8');
    } catch {
      return '';
    }
  };
  const tail = (lines = 20): string => output().trimEnd().split('\n').slice(-lines).join('\n');
  const service: ServiceProcess = {
    name: opts.name,
    child,
    logFile: opts.logFile,
    tail,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  if (opts.readyText === undefined) return service;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (output().includes(opts.readyText)) return service;
    if (child.exitCode !== null) throw new Error(`${opts.name} exited with code ${child.exitCode} while starting:\n${tail()}`);
    if (Date.now() > deadline) {
      await service.stop(0);
      throw new Error(`${opts.name} did not report "${opts.readyText}" within ${(opts.readyTimeoutMs ?? 30_000) / 1000} s:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
