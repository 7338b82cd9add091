/**
 * OVS port-programming benchmark (issue 4): program `ports` Fjord ports through the switch driver
 * in batches (one OVSDB transaction per batch) as the bridge fills, and show the cost per port
 * stays flat. Target: ≤ 5 ms per port, ≥ 1,000 ports/s batched.
 *
 * On a 1-host lab (private, namespaced ovsdb-server + userspace ovs-vswitchd):
 * - headline (`ms_per_port`, `ports_per_s`, `ms_per_port_at_<existing ports>`, single-port cost at
 *   0 and at the end, a no-op re-apply of everything, batched removal) with ovs-vswitchd running;
 * - the same with a `db_` prefix against the database alone (ovs-vswitchd stopped), to separate
 *   the driver's and database's cost from the switch daemon's competition for CPU.
 */
import { performance } from 'node:perf_hooks';
import { labDown, labUp, stopOvs, type LabHost } from '@fjord/lab';
import { OvsSwitch, type PortSpec } from '@fjord/worker';

const LAB = { name: 'fjbovs' };

function portsFrom(from: number, count: number): PortSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return { name: `vb${n}`, vlan: 100 + (n % 50), externalIds: { 'fjord-container': `c${n}` } };
  });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

const round = (x: number) => Math.round(x * 100) / 100;

async function phase(h: LabHost, ports: number, batch: number, prefix: string, out: Record<string, number>): Promise<void> {
  const sw = new OvsSwitch({ bridge: h.bridge, owner: h.name, ovsRundir: h.ovsRundir, timeoutS: 120 });
  await sw.ensureBridge();
  out[`${prefix}single_port_ms_at_0`] = round(await timed(() => sw.applyPorts([{ name: 'vsingle0', vlan: 10 }])));
  await sw.removePorts(['vsingle0']);
  let total = 0;
  for (let done = 0; done < ports; done += batch) {
    const n = Math.min(batch, ports - done);
    const ms = await timed(() => sw.applyPorts(portsFrom(done, n)));
    total += ms;
    out[`${prefix}ms_per_port_at_${done}`] = round(ms / n);
  }
  out[`${prefix}ms_per_port`] = round(total / ports);
  out[`${prefix}ports_per_s`] = Math.round((ports / total) * 1000);
  out[`${prefix}single_port_ms_at_${ports}`] = round(await timed(() => sw.applyPorts([{ name: 'vsingle1', vlan: 10 }])));
  await sw.removePorts(['vsingle1']);
  const all = portsFrom(0, ports);
  out[`${prefix}noop_reapply_all_ms`] = round(await timed(() => sw.applyPorts(all)));
  const owned = (await sw.listPorts()).length;
  if (owned !== ports) throw new Error(`bench ovs: expected ${ports} owned ports on ${h.bridge}, found ${owned}`);
  out[`${prefix}remove_ms_per_port`] = round((await timed(() => sw.removePorts(all.map((p) => p.name)))) / ports);
}

/**
 * Programs `ports` ports in batches of `batch` and returns the figures (see the file comment),
 * including `ms_per_port`, `ports_per_s` and per-batch `ms_per_port_at_<existing ports>`. Set
 * `dbOnly: false` to skip the database-only phase. Tears the lab down after, pass or fail.
 */
export async function benchOvs(ports = 2000, opts: { batch?: number; dbOnly?: boolean } = {}): Promise<Record<string, number>> {
  const batch = opts.batch ?? 200;
  const out: Record<string, number> = { ports, batch };
  await labDown(LAB);
  try {
    const lab = await labUp({ ...LAB, hosts: 1 });
    const h = lab.hosts[0]!;
    await phase(h, ports, batch, '', out);
    if (opts.dbOnly ?? true) {
      await stopOvs(h.ovsRundir, 'SIGTERM', ['ovs-vswitchd']);
      await phase(h, ports, batch, 'db_', out);
    }
    return out;
  } finally {
    await labDown(LAB);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchOvs(Number(process.argv[2] ?? 2000)), null, 2));
}
