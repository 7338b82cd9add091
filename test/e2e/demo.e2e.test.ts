/**
 * The main job, whole: `fjordctl demo` runs a real scheduler process, a 3-host lab with one real
 * worker process per host (OVS, LXC), places two tenants' containers on the same subnet through
 * gRPC, proves isolation with packets, deletes the placements, and removes everything it made.
 */
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { sh } from '@fjord/lab';
import { runFjordctl } from '../support/fjordctl.js';
import { freePort } from '../support/scheduler-process.js';
import { requireLab, skipLab } from './lab-env.js';

const NAME = 'fjtdemo';

interface DemoResult {
  fleet: string;
  hosts: string[];
  vlans: Record<string, number>;
  containers: { tenant: string; name: string; host: string; vlan: number; address: string; state: string }[];
  proofs: { claim: string; ok: boolean; evidence: string }[];
  leftAfterDelete: number;
}


describe.skipIf(skipLab)('fjordctl demo (scheduler + lab + worker processes)', () => {
  it('places both tenants across hosts, proves isolation with packets, and leaves nothing behind', async () => {
    requireLab();
    const port = await freePort();
    const run = await runFjordctl(['--json', 'demo', '--name', NAME, '--grpc-port', String(port)]);
    expect(run.stderr, run.stderr).not.toMatch(/fjordctl:/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as DemoResult;

    expect(result.fleet).toBe('lab');
    expect(result.hosts).toEqual(['hv1', 'hv2', 'hv3']);
    expect(result.vlans.red).not.toBe(result.vlans.blue);
    const of = (tenant: string) => result.containers.filter((c) => c.tenant === tenant);
    expect(of('red')).toHaveLength(3);
    expect(of('blue')).toHaveLength(2);
    for (const tenant of ['red', 'blue']) {
      const mine = of(tenant);
      expect(new Set(mine.map((c) => c.host)).size, `${tenant} anti-affinity`).toBe(mine.length);
      expect(mine.every((c) => c.state === 'RUNNING' && c.vlan === result.vlans[tenant])).toBe(true);
    }
    // Same subnet, same addresses: only the VLAN tells them apart.
    expect(of('blue').map((c) => c.address).every((a) => of('red').some((r) => r.address === a))).toBe(true);

    expect(result.proofs).toHaveLength(5);
    for (const p of result.proofs) expect(p.ok, `${p.claim}: ${p.evidence}`).toBe(true);
    expect(result.leftAfterDelete).toBe(0);

    // Nothing left: namespaces, worker and scheduler processes, the database.
    const netns = (await sh('ip', ['netns', 'list'], { what: 'list namespaces' })).stdout;
    expect(netns.split('\n').filter((l) => l.startsWith(`${NAME}-`))).toEqual([]);
    const ps = (await sh('ps', ['-eo', 'args'], { what: 'list processes' })).stdout;
    expect(ps.split('\n').filter((l) => l.includes(`worker-hv`) && l.includes('fjord-demo-'))).toEqual([]);
    const admin = postgres(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', { max: 1 });
    try {
      expect(await admin`SELECT datname FROM pg_database WHERE datname = ${`${NAME}_db`}`).toHaveLength(0);
    } finally {
      await admin.end();
    }
  }, 300_000);
});
