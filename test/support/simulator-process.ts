/**
 * Runs the host simulator (`fjordctl sim`) as a child process, for benchmarks whose client must not
 * share an event loop with thousands of simulated workers: their message handling and garbage
 * collection would otherwise stall the client and count as the scheduler's latency.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../../services/cli/src/demo/processes.js';

/** A running simulator process. */
export interface SimulatorProcess {
  /** Everything it printed, for failure messages. */
  output(): string;
  /** Stops every simulated worker (SIGTERM) and removes its files. */
  stop(): Promise<void>;
}

/** Options of {@link startSimulatorProcess}. */
export interface SimulatorProcessOptions {
  hosts: number;
  natsUrl: string;
  subjectPrefix: string;
  namePrefix: string;
  heartbeatMs: number;
  registerPerSecond: number;
}

/** Starts `hosts` simulated workers and resolves once every one has registered. */
export async function startSimulatorProcess(options: SimulatorProcessOptions): Promise<SimulatorProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'fjord-sim-'));
  const service = await startService({
    name: `simulator ${options.namePrefix}`,
    entry: 'services/cli/src/main.ts',
    args: [
      'sim',
      `--hosts=${options.hosts}`,
      `--nats=${options.natsUrl}`,
      `--prefix=${options.subjectPrefix}`,
      `--name-prefix=${options.namePrefix}`,
      `--heartbeat-ms=${options.heartbeatMs}`,
      `--register-rate=${options.registerPerSecond}`,
      // No counter lines mid-run: the log is only read for readiness and failures.
      '--report-s=3600',
    ],
    logFile: join(dir, 'sim.log'),
    readyText: `all ${options.hosts} hosts registered`,
    readyTimeoutMs: 120_000,
  }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    output: () => service.tail(Infinity),
    stop: async () => {
      await service.stop(30_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
