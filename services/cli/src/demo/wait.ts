/** Polling the scheduler until the fleet or the containers reach a state (the demo, tests, benchmarks). */
import type { placementV1 } from '@fjord/proto';
import { callUnary, type Clients } from '../client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until every host is registered and READY with the scheduler. */
export async function waitForHosts(clients: Clients, hosts: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { hosts: listed } = await callUnary(clients, clients.fleet, clients.fleet.listHosts, { state: '' });
    const ready = new Set(listed.filter((h) => h.state === 'READY').map((h) => h.name));
    const missing = hosts.filter((h) => !ready.has(h));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`hosts not ready after ${timeoutMs / 1000} s: ${missing.join(', ')} (see the worker or simulator logs)`);
    await sleep(200);
  }
}

/**
 * Waits until `count` containers of `tenant` (every tenant when empty) are reported RUNNING by
 * their workers, and returns all of that tenant's containers; throws naming the laggards.
 */
export async function waitForRunning(clients: Clients, want: { tenant?: string; count: number; timeoutMs: number }): Promise<placementV1.Container[]> {
  const deadline = Date.now() + want.timeoutMs;
  for (;;) {
    const { containers } = await callUnary(clients, clients.placement, clients.placement.listContainers, { tenant: want.tenant ?? '', host: '', network: '', limit: 0 });
    const running = containers.filter((c) => c.state === 'RUNNING').length;
    if (running >= want.count) return containers;
    if (Date.now() > deadline) {
      const lagging = containers.filter((c) => c.state !== 'RUNNING').slice(0, 10).map((c) => `${c.spec?.tenant}/${c.spec?.name} on ${c.host}: ${c.state}`);
      throw new Error(`${running} of ${want.count} containers running after ${want.timeoutMs / 1000} s${lagging.length ? `; e.g. ${lagging.join('; ')}` : ''}`);
    }
    await sleep(100);
  }
}
