/**
 * Lab start benchmark (issue 4): containers placed and running with networking, per second, on a
 * 3-host lab. Per host: one OVSDB transaction for all its ports, then create + start (copy of the
 * prepared busybox root filesystem, rendered config, `lxc-start`, host veth up, TX offload off)
 * with a few in flight. The one-time template build (`lxc-create -t busybox`) is reported apart.
 * Target: ≥ 10 containers/s.
 */
import { performance } from 'node:perf_hooks';
import { labDown, labUp, type LabHost } from '@fjord/lab';
import { LxcRuntime, OvsSwitch, run, type ContainerSpec } from '@fjord/worker';

const LAB = { name: 'fjbls' };

function spec(i: number, host: LabHost): ContainerSpec {
  const ip = `10.40.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  return { name: `c${i}`, template: 'busybox', network: { bridge: host.bridge, vlan: 300, vethPair: `v-c${i}`, ip, prefix: 16 } };
}

async function pool<T>(items: readonly T[], inFlight: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, async () => {
    while (next < items.length) await f(items[next++]!);
  }));
}

const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Starts `containers` containers spread over 3 hosts and returns `containers_per_s` (and the
 * total, the template build time and a reachability check). Tears the lab down after.
 */
export async function benchLabStart(containers = 100, opts: { inFlightPerHost?: number } = {}): Promise<Record<string, number>> {
  const inFlight = opts.inFlightPerHost ?? 4;
  await labDown(LAB);
  try {
    const lab = await labUp({ ...LAB, hosts: 3 });
    const hosts = lab.hosts.map((h) => ({
      h,
      sw: new OvsSwitch({ bridge: h.bridge, owner: h.name, ovsRundir: h.ovsRundir }),
      rt: new LxcRuntime({ lxcPath: h.lxcPath, netns: h.netns, templateCache: lab.templateCache }),
    }));
    // Build the template once (not timed): `lxc-create -t busybox` takes seconds.
    const t0 = performance.now();
    const warm = hosts[0]!;
    await warm.rt.create({ ...spec(0, warm.h), name: 'warmup' });
    await warm.rt.destroy('warmup');
    const templateMs = performance.now() - t0;

    const specs = Array.from({ length: containers }, (_, i) => ({ i, host: hosts[i % hosts.length]! }));
    const t1 = performance.now();
    await Promise.all(
      hosts.map(async (hd) => {
        const mine = specs.filter((s) => s.host === hd).map((s) => spec(s.i, hd.h));
        await hd.sw.applyPorts(mine.map((s) => ({ name: s.network.vethPair, vlan: s.network.vlan })));
        await pool(mine, inFlight, async (s) => {
          await hd.rt.create(s);
          await hd.rt.start(s.name);
        });
      }),
    );
    const totalMs = performance.now() - t1;

    // Not timed: every container runs, and two on different hosts reach each other.
    const running = (await Promise.all(hosts.map((hd) => hd.rt.list()))).flat().filter((c) => c.state === 'running');
    const c0 = running.find((c) => c.name === 'c0');
    let reachable = 0;
    if (c0?.pid && containers > 1) {
      const r = await run('nsenter', ['-t', String(c0.pid), '-n', 'ping', '-c', '1', '-w', '5', spec(1, hosts[1]!.h).network.ip], { okExitCodes: [1] });
      reachable = r.exitCode === 0 ? 1 : 0;
    }
    return {
      containers,
      hosts: hosts.length,
      in_flight_per_host: inFlight,
      containers_per_s: round(containers / (totalMs / 1000)),
      total_s: round(totalMs / 1000),
      ms_per_container: round(totalMs / containers),
      running: running.length,
      cross_host_ping_ok: reachable,
      template_build_s: round(templateMs / 1000),
    };
  } finally {
    await labDown(LAB);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchLabStart(Number(process.argv[2] ?? 100), { inFlightPerHost: Number(process.argv[3] ?? 4) }), null, 2));
}
