/**
 * Lab start benchmark (issue 4): containers placed through the scheduler and running with
 * networking, per second, on a 3-host lab with one real worker process per host (OVS, LXC) — the
 * whole path of `fjordctl place`. Timed from the first placement request until every container is
 * reported RUNNING. The one-time template build (`lxc-create -t busybox`) happens in a warm-up
 * placement and is reported apart. Target: ≥ 10 containers/s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runtimeNameOf } from '@fjord/core';
import { containerPid, pings } from '@fjord/lab';
import type { placementV1 } from '@fjord/proto';
import { callUnary, connect } from '../../services/cli/src/client.js';
import { startControlPlane } from '../../services/cli/src/demo/control-plane.js';
import { startLabFleet } from '../../services/cli/src/demo/fleet.js';
import { waitForHosts, waitForRunning } from '../../services/cli/src/demo/wait.js';
import { freePort } from '../support/scheduler-process.js';
import { round } from './measure.js';

const NAME = 'fjbls';

function spec(name: string): placementV1.ContainerSpec {
  return {
    tenant: 'bench', name, network: 'web', template: 'busybox', cpuMillis: 10, memoryBytes: BigInt(16 << 20),
    constraints: [], antiAffinityGroup: '', spreadLabel: '', command: '',
  };
}

/** Places `containers` containers over 3 lab hosts through the scheduler; returns `containers_per_s` and more. */
export async function benchLabStart(containers = 100): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'fjord-bench-lab-start-'));
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const cp = await startControlPlane({ dir, postgresUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', natsUrl, name: NAME, grpcPort: await freePort() });
  // Workers re-check their hosts at the worker's default interval (30 s), as deployed.
  const fleet = await startLabFleet({ dir, hosts: 3, natsUrl, prefix: NAME, lab: { name: NAME }, reconcileIntervalMs: 30_000 }).catch(async (err: unknown) => {
    await cp.stop();
    throw err;
  });
  const clients = connect(cp.server);
  try {
    await waitForHosts(clients, fleet.hosts, 60_000);
    await callUnary(clients, clients.network, clients.network.createNetwork, {
      tenant: 'bench', name: 'web', physicalNetwork: 'physnet1', vlan: 0, cidr: '10.40.0.0/16', subnetPool: '', prefixLength: 0,
    });
    // Warm-up: one container per host builds the template (seconds, once per machine).
    const t0 = performance.now();
    await callUnary(clients, clients.placement, clients.placement.placeBatch, { containers: ['w1', 'w2', 'w3'].map(spec), policy: 'spread' });
    await waitForRunning(clients, { tenant: 'bench', count: 3, timeoutMs: 120_000 });
    const warmupS = (performance.now() - t0) / 1000;

    const t1 = performance.now();
    const names = Array.from({ length: containers }, (_, i) => `c${i}`);
    // One request, as `fjordctl place --count N` sends it: each host gets one desired state.
    await callUnary(clients, clients.placement, clients.placement.placeBatch, { containers: names.map(spec), policy: 'spread' });
    const running = await waitForRunning(clients, { tenant: 'bench', count: containers + 3, timeoutMs: 300_000 });
    const totalS = (performance.now() - t1) / 1000;

    // Networking, not just processes: a container on hv1 reaches one on each other host.
    const labHost = (name: string) => fleet.lab!.hosts.find((h) => h.name === name)!;
    const onHost = (h: string) => running.find((c) => c.host === h && c.spec!.name.startsWith('c'))!;
    const from = onHost('hv1');
    const site = { pid: await containerPid(labHost('hv1'), runtimeNameOf(from.id)) };
    const reach = await Promise.all(['hv2', 'hv3'].map((h) => pings(site, onHost(h).address, 3)));
    // Every container reported RUNNING has a live init process in LXC on its host (throws if not).
    const pids = await Promise.all(running.map((c) => containerPid(labHost(c.host), runtimeNameOf(c.id))));
    return {
      containers,
      hosts: 3,
      containers_per_s: round(containers / totalS),
      total_s: round(totalS),
      ms_per_container: round((totalS * 1000) / containers),
      warmup_s: round(warmupS),
      cross_host_ping_ok: reach.every(Boolean) ? 1 : 0,
      verified_running: pids.length,
    };
  } finally {
    clients.close();
    await fleet.stop();
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
