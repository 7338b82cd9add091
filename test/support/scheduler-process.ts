/**
 * Runs a real scheduler replica as a child process (`tsx services/scheduler/src/main.ts`) for tests
 * and benchmarks that must kill it (`kill -9`) or measure it from outside.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startService } from '../../services/cli/src/demo/processes.js';

export { freePort };


/** A running scheduler process. */
export interface SchedulerProcess {
  replicaId: string;
  address: string;
  child: ChildProcess;
  /** Everything it logged, for failure messages. */
  output(): string;
  /** SIGKILL, as a crash would. */
  kill9(): void;
  /** SIGTERM and wait for the exit (SIGKILL after 10 s); removes its files. */
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
  const service = await startService({
    name: `scheduler ${options.replicaId}`,
    entry: 'services/scheduler/src/main.ts',
    args: ['--config', configFile],
    env: {
      DATABASE_URL: options.databaseUrl,
      FJORD_GRPC_LISTEN: `127.0.0.1:${port}`,
      FJORD_SUBJECT_PREFIX: options.subjectPrefix,
      FJORD_REPLICA_ID: options.replicaId,
      FJORD_LOG_LEVEL: 'info',
      ...options.env,
    },
    logFile: join(dir, 'scheduler.log'),
    readyText: 'scheduler serving gRPC',
  }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    replicaId: options.replicaId,
    address: `127.0.0.1:${port}`,
    child: service.child,
    output: () => service.tail(Infinity),
    kill9: () => service.child.kill('SIGKILL'),
    stop: async () => {
      // A graceful stop takes well under a second; one that hangs must not hang its caller.
      await service.stop(10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
