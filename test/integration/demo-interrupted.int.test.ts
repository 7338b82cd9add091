/**
 * `fjordctl demo` stopped by a signal halfway (Ctrl-C, `kill`, a closed terminal): it removes
 * what it made (its scheduler process, database, NATS streams and files) and exits with 128 + the signal's
 * number, on simulated hosts over the local Postgres and NATS.
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

/** Runs the demo until it says its hosts are ready, sends `signal`, and returns what it printed, its exit code and its directory. */
async function interruptDemo(name: string, signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP'): Promise<{ output: string; code: number | null; dir: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', 'demo', '--simulate', '--name', name, '--grpc-port', String(await freePort())], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  child.kill(signal);
  const code = await exited;
  const dir = /\(log (\S+)\/scheduler\.log\)/.exec(output)?.[1] ?? '';
  return { output, code, dir };
}

describe('fjordctl demo stopped by a signal', () => {
  it.each(['SIGHUP', 'SIGTERM'] as const)('on %s removes its scheduler, database, streams and files, and exits with 128 + the signal', async (signal) => {
    const name = `fjt${signal.slice(3).toLowerCase()}`;
    const { output, code, dir } = await interruptDemo(name, signal);
    expect(output).toContain(`${signal}: removing everything the demo made`);
    expect(code, output).toBe(128 + constants.signals[signal]);
    expect(dir, output).toMatch(/fjord-demo-/);
    expect(existsSync(dir)).toBe(false);
    const ps = (await sh('ps', ['-eo', 'args'], { what: 'list processes' })).stdout;
    expect(ps.split('\n').filter((l) => l.includes(dir))).toEqual([]);
    const admin = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', { max: 1 });
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
