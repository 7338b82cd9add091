import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { DesiredContainer } from '@fjord/core';
import { FakeRuntime, FakeSwitch } from './drivers/fake.js';
import { ContainerState, OWNER_KEY } from './drivers/types.js';
import { Reconciler } from './reconcile.js';

const log = pino({ level: 'silent' });

function desired(runtimeName: string, overrides: Partial<DesiredContainer> = {}): DesiredContainer {
  return {
    runtimeName,
    tenant: 'acme',
    name: `web-${runtimeName}`,
    template: 'busybox',
    vlan: 100,
    address: '10.0.0.10',
    prefixLength: 24,
    gateway: '10.0.0.1',
    cpuMillis: 500,
    memoryBytes: 256 * 1024 * 1024,
    command: '',
    ...overrides,
  };
}

/** A runtime whose start fails for the named containers, as a broken template or config would. */
class FlakyRuntime extends FakeRuntime {
  constructor(readonly broken: Set<string>) {
    super();
  }
  override async start(name: string): Promise<void> {
    if (this.broken.has(name)) throw new Error(`start container ${name}: lxc-start exited 1`);
    return super.start(name);
  }
}

function host(runtime = new FakeRuntime()) {
  const sw = new FakeSwitch('br-hv1', 'hv1');
  return { sw, runtime, reconciler: new Reconciler({ switch: sw, runtime, log }) };
}

const writes = (calls: { method: string }[]) => calls.filter((c) => c.method !== 'list' && c.method !== 'listPorts');

describe('Reconciler', () => {
  it('creates, plugs and starts desired containers and reports them running', async () => {
    const { sw, runtime, reconciler } = host();
    const result = await reconciler.reconcile([desired('c-aaa', { command: 'httpd -f -p 80' }), desired('c-bbb', { vlan: 200 })]);
    expect(result.containers).toEqual([
      { runtimeName: 'c-aaa', state: 'RUNNING', message: '' },
      { runtimeName: 'c-bbb', state: 'RUNNING', message: '' },
    ]);
    expect(runtime.containers.get('c-aaa')?.spec).toEqual({
      name: 'c-aaa',
      template: 'busybox',
      network: { bridge: 'br-hv1', vlan: 100, vethPair: 'vaaa', ip: '10.0.0.10', prefix: 24, gateway: '10.0.0.1', hwaddr: '02:00:64:00:00:0a' },
      command: ['httpd', '-f', '-p', '80'],
    });
    // No command: busybox httpd serving a page that names the container.
    expect(runtime.containers.get('c-bbb')?.spec.command).toEqual([
      '/bin/sh',
      '-c',
      'mkdir -p /www && echo "acme/web-c-bbb ($(hostname))" > /www/index.html && exec httpd -f -p 80 -h /www',
    ]);
    expect([...sw.ports.values()].map((p) => [p.name, p.vlan])).toEqual([
      ['vaaa', 100],
      ['vbbb', 200],
    ]);
    expect(sw.transactions).toBe(1);
  });

  it('does nothing on a second pass over the same desired state', async () => {
    const { sw, runtime, reconciler } = host();
    const want = [desired('c-aaa'), desired('c-bbb')];
    await reconciler.reconcile(want);
    const [runtimeCalls, switchCalls] = [runtime.calls.length, sw.calls.length];
    const again = await reconciler.reconcile(want);
    expect(again.actions).toBe(0);
    expect(writes(runtime.calls.slice(runtimeCalls))).toEqual([]);
    expect(writes(sw.calls.slice(switchCalls))).toEqual([]);
    expect(again.containers.every((c) => c.state === 'RUNNING')).toBe(true);
  });

  it('adopts what a previous worker process left running without recreating it', async () => {
    const { sw, runtime, reconciler } = host();
    const want = [desired('c-aaa'), desired('c-bbb')];
    await reconciler.reconcile(want);
    const pids = [...runtime.containers.values()].map((c) => c.pid);
    runtime.calls.length = 0;
    sw.calls.length = 0;

    const restarted = new Reconciler({ switch: sw, runtime, log });
    const result = await restarted.reconcile(want);
    expect(result.actions).toBe(0);
    expect(writes(runtime.calls)).toEqual([]);
    expect(writes(sw.calls).map((c) => c.method)).toEqual(['ensureBridge']);
    expect([...runtime.containers.values()].map((c) => c.pid)).toEqual(pids);
  });

  it('replugs the port of a container that ran before it starts again, and not that of a new one', async () => {
    const { sw, runtime, reconciler } = host();
    await reconciler.reconcile([desired('c-aaa')]);
    expect(sw.calls.map((c) => c.method)).not.toContain('replugPorts');
    await runtime.stop('c-aaa');
    sw.calls.length = 0;
    await reconciler.reconcile([desired('c-aaa')]);
    // The userspace switch keeps a stale interface for a veth that vanished and came back.
    expect(writes(sw.calls)).toEqual([{ method: 'replugPorts', args: [['vaaa']] }]);
    expect(runtime.containers.get('c-aaa')?.state).toBe('running');
  });

  it('restarts a container that stopped, keeping it', async () => {
    const { runtime, reconciler } = host();
    const want = [desired('c-aaa')];
    await reconciler.reconcile(want);
    await runtime.stop('c-aaa');
    runtime.calls.length = 0;
    const result = await reconciler.reconcile(want);
    expect(writes(runtime.calls).map((c) => c.method)).toEqual(['start']);
    expect(result.containers[0]?.state).toBe('RUNNING');
  });

  it('recreates a container whose spec changed and re-tags its port', async () => {
    const { sw, runtime, reconciler } = host();
    await reconciler.reconcile([desired('c-aaa')]);
    runtime.calls.length = 0;
    await reconciler.reconcile([desired('c-aaa', { vlan: 300, address: '10.0.3.10' })]);
    expect(writes(runtime.calls).map((c) => c.method)).toEqual(['stop', 'destroy', 'create', 'start']);
    expect(runtime.containers.get('c-aaa')?.spec.network.ip).toBe('10.0.3.10');
    expect(sw.ports.get('vaaa')?.vlan).toBe(300);
    runtime.calls.length = 0;
    expect((await reconciler.reconcile([desired('c-aaa', { vlan: 300, address: '10.0.3.10' })])).actions).toBe(0);
  });

  it('removes only the containers and ports it owns and no longer desires', async () => {
    const { sw, runtime, reconciler } = host();
    await reconciler.reconcile([desired('c-aaa'), desired('c-bbb')]);
    await runtime.create({ name: 'not-fjord', template: 'busybox', network: { bridge: 'br-hv1', vlan: 5, vethPair: 'vother', ip: '10.9.9.9', prefix: 24 } });
    sw.ports.set('vforeign', { name: 'vforeign', vlan: 7, externalIds: { [OWNER_KEY]: 'hv2', 'fjord-container': 'c-foreign' } });
    sw.ports.set('uplink0', { name: 'uplink0', vlan: null, externalIds: { [OWNER_KEY]: 'hv1' } });

    const result = await reconciler.reconcile([desired('c-bbb')]);
    expect(result.containers.map((c) => c.runtimeName)).toEqual(['c-bbb']);
    expect([...runtime.containers.keys()].sort()).toEqual(['c-bbb', 'not-fjord']);
    expect([...sw.ports.keys()].sort()).toEqual(['uplink0', 'vbbb', 'vforeign']);
  });

  it('reports a container that fails as FAILED and still converges the others', async () => {
    const runtime = new FlakyRuntime(new Set(['c-bad']));
    const { reconciler } = host(runtime);
    const result = await reconciler.reconcile([desired('c-aaa'), desired('c-bad'), desired('c-ccc'), desired('c-vlan', { vlan: 0 })]);
    expect(result.containers).toEqual([
      { runtimeName: 'c-aaa', state: 'RUNNING', message: '' },
      { runtimeName: 'c-bad', state: 'FAILED', message: 'create container c-bad: start container c-bad: lxc-start exited 1' },
      { runtimeName: 'c-ccc', state: 'RUNNING', message: '' },
      { runtimeName: 'c-vlan', state: 'FAILED', message: 'container c-vlan: bad vlan 0: want 1-4094' },
    ]);
    expect(runtime.containers.get('c-ccc')?.state).toBe(ContainerState.Running);

    // Once the cause is gone, the next pass (the agent's next tick) starts it without recreating.
    runtime.broken.clear();
    runtime.calls.length = 0;
    const healed = await reconciler.reconcile([desired('c-aaa'), desired('c-bad'), desired('c-ccc')]);
    expect(healed.containers.map((c) => c.state)).toEqual(['RUNNING', 'RUNNING', 'RUNNING']);
    expect(writes(runtime.calls).map((c) => c.method)).toEqual(['start']);
  });

  it('reports every container FAILED when the host cannot be observed, and recovers on the next pass', async () => {
    const { sw, reconciler } = host();
    await reconciler.reconcile([desired('c-aaa')]);
    sw.bridgeExists = false;
    const broken = await reconciler.reconcile([desired('c-aaa')]);
    expect(broken.containers[0]).toMatchObject({ state: 'FAILED', message: expect.stringContaining('observe host (bridge br-hv1)') });
    const healed = await reconciler.reconcile([desired('c-aaa')]);
    expect(healed.containers[0]?.state).toBe('RUNNING');
  });
});
