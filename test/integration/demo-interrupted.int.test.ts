/**
 * `fjordctl demo` stopped halfway (`kill`, a closed terminal, its output closed): it removes what
 * it made (its scheduler process, database, NATS streams and files) and exits with 128 + the
 * signal's number, on simulated hosts over the local Postgres and NATS.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { subjects } from '@fjord/bus';
import { sh } from '@fjord/lab';
import { natsTestEnv } from '@fjord/testkit';
import { freePort } from '../support/scheduler-process.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Runs the demo until it says its hosts are ready, then sends `signal`; with `hangUp`, as a closed
 * terminal does: its output is gone right after the signal, and the signal comes again (from the
 * shell, then from the kernel). Returns what it printed, its exit code and its directory.
 */
async function interruptDemo(name: string, signal: NodeJS.Signals | 'closed output', { hangUp }: { hangUp: boolean }): Promise<{ output: string; code: number | null; dir: string }> {
  const args = ['demo', '--simulate', '--name', name, '--grpc-port', String(await freePort()), '--postgres', databaseUrl];
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve) => {
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('hosts ready')) resolve();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
  });
  const early = await Promise.race([ready.then(() => false), exited.then(() => true)]);
  if (early) throw new Error(`the demo exited before its hosts were ready:\n${output}`);
  const send = signal === 'closed output' ? undefined : signal;
  if (send) child.kill(send);
  if (hangUp || !send) {
    child.stdout.destroy();
    child.stderr.destroy();
  }
  if (hangUp) setTimeout(() => child.kill(send), 100);
  const code = await exited;
  const dir = /\(log (\S+)\/scheduler\.log\)/.exec(output)?.[1] ?? '';
  return { output, code, dir };
}

describe('fjordctl demo stopped by a signal', () => {
  const { SIGHUP, SIGPIPE, SIGTERM } = constants.signals;
  it.each([
    // A hang-up: the demo stops on the signal or on its first write that fails, whichever it sees first.
    { signal: 'SIGHUP', hangUp: true, name: 'fjthup', exitCodes: [128 + SIGHUP, 128 + SIGPIPE] },
    { signal: 'SIGTERM', hangUp: false, name: 'fjtterm', exitCodes: [128 + SIGTERM] },
    // Its output closed (a pipe to `head`): it stops as a broken pipe would, with its cleanup.
    { signal: 'closed output', hangUp: false, name: 'fjtpipe', exitCodes: [128 + SIGPIPE] },
  ] as const)('on $signal removes its scheduler, database, streams and files, and exits with one of $exitCodes', async ({ signal, hangUp, name, exitCodes }) => {
    const { output, code, dir } = await interruptDemo(name, signal, { hangUp });
    expect(output).toContain(`database ${name}_db on 127.0.0.1`);
    if (signal === 'SIGTERM') expect(output).toContain(`${signal}: removing everything the demo made`);
    expect(exitCodes as readonly (number | null)[], output).toContain(code);
    expect(dir, output).toMatch(/fjord-demo-/);
    expect(existsSync(dir)).toBe(false);
    const ps = (await sh('ps', ['-eo', 'args'], { what: 'list processes' })).stdout;
    expect(ps.split('\n').filter((l) => l.includes(dir))).toEqual([]);
    const admin = postgres(databaseUrl, { max: 1 });
    try {
      expect(await admin`SELECT datname FROM pg_database WHERE datname = ${`${name}_db`}`).toHaveLength(0);
    } finally {
      await admin.end();
    }
    const nc = await connect({ servers: natsTestEnv().url });
    try {
      const jsm = await jetstreamManager(nc);
      const { streams } = subjects(name);
      for (const stream of [streams.desired, streams.events]) await expect(jsm.streams.info(stream), stream).rejects.toThrow(/not found/i);
    } finally {
      await nc.close();
    }
  }, 120_000);
});
