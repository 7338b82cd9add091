/**
 * Runs a real scheduler replica as a child process (`tsx services/scheduler/src/main.ts`) for tests
 * and benchmarks that must kill it (`kill -9`) or measure it from outside.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../services/cli/src/demo/processes.js';

export { freePort };

const root = new URL('../..', import.meta.url).pathname;

/** A running scheduler process. */
export interface SchedulerProcess {
  replicaId: string;
  address: string;
  child: ChildProcess;
  /** Everything it logged, for failure messages. */
  output(): string;
  /** SIGKILL, as a crash would. */
  kill9(): void;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/** Options of {@link startSchedulerProcess}. */
export interface SchedulerProcessOptions {
  replicaId: string;
  databaseUrl: string;
  subjectPrefix: string;
  config?: Record<string, unknown>;
  env?: Record<string, string>;
}

/** Starts a scheduler replica and resolves once its gRPC port accepts connections. */
export async function startSchedulerProcess(options: SchedulerProcessOptions): Promise<SchedulerProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fjord-scheduler-'));
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(options.config ?? {}));
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'services/scheduler/src/main.ts'), '--config', configFile], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      FJORD_GRPC_LISTEN: `127.0.0.1:${port}`,
      FJORD_SUBJECT_PREFIX: options.subjectPrefix,
      FJORD_REPLICA_ID: options.replicaId,
      FJORD_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => rmSync(dir, { recursive: true, force: true }));
  // Never leave a replica behind when the test or benchmark process ends abruptly.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  const deadline = Date.now() + 30_000;
  while (!output.includes('scheduler serving gRPC')) {
    if (child.exitCode !== null) throw new Error(`scheduler ${options.replicaId} exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`scheduler ${options.replicaId} did not start in 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    replicaId: options.replicaId,
    address: `127.0.0.1:${port}`,
    child,
    output: () => output,
    kill9: () => child.kill('SIGKILL'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      // A graceful stop takes well under a second; one that hangs must not hang its caller.
      const timer = setTimeout(() => {
        process.stderr.write(`scheduler ${options.replicaId} did not stop within 10 s of SIGTERM; killing it\n`);
        child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
