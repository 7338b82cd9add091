import { describe, expect, it } from 'vitest';
import {
  CONTAINER_ID_KEY,
  SPEC_ID_KEY,
  commandArgv,
  containerMac,
  isRuntimeName,
  runtimeNameOf,
  containerFingerprint,
  planReconcile,
  vethName,
  type DesiredContainer,
  type ObservedContainer,
  type ObservedPort,
} from './reconcile.js';

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

/** The ports and containers a host shows after a plan for `want` was fully applied. */
function converged(want: DesiredContainer[]): { containers: ObservedContainer[]; ports: ObservedPort[] } {
  return {
    containers: want.map((c) => ({ name: c.runtimeName, state: 'running' })),
    ports: want.map((c) => ({
      name: vethName(c.runtimeName),
      vlan: c.vlan,
      externalIds: { [CONTAINER_ID_KEY]: c.runtimeName, [SPEC_ID_KEY]: containerFingerprint(c), 'fjord-owner': 'hv1' },
    })),
  };
}

describe('planReconcile()', () => {
  it('creates missing containers after adding all their ports in one batch', () => {
    const a = desired('c-aaa');
    const b = desired('c-bbb', { vlan: 200 });
    const plan = planReconcile([b, a], { containers: [], ports: [] });
    expect(plan.invalid).toEqual([]);
    expect(plan.actions.map((x) => x.kind)).toEqual(['apply-ports', 'create-container', 'create-container']);
    const ports = plan.actions[0]?.kind === 'apply-ports' ? plan.actions[0].ports : [];
    expect(ports.map((p) => [p.name, p.vlan])).toEqual([
      ['vaaa', 100],
      ['vbbb', 200],
    ]);
    expect(ports[0]?.externalIds).toEqual({ [CONTAINER_ID_KEY]: 'c-aaa', [SPEC_ID_KEY]: containerFingerprint(a) });
  });

  it('plans nothing when the host already matches', () => {
    const want = [desired('c-aaa'), desired('c-bbb')];
    expect(planReconcile(want, converged(want))).toEqual({ actions: [], invalid: [] });
  });

  it('starts a stopped container without recreating it', () => {
    const want = [desired('c-aaa')];
    const observed = converged(want);
    const plan = planReconcile(want, { ...observed, containers: [{ name: 'c-aaa', state: 'stopped' }] });
    expect(plan.actions).toEqual([{ kind: 'start-container', name: 'c-aaa' }]);
  });

  it('leaves a container in transition alone until it settles', () => {
    const want = [desired('c-aaa')];
    const plan = planReconcile(want, { ...converged(want), containers: [{ name: 'c-aaa', state: 'transitioning' }] });
    expect(plan.actions).toEqual([]);
  });

  it('removes owned containers and their ports that are no longer desired, first', () => {
    const keep = desired('c-keep');
    const gone = desired('c-gone');
    const plan = planReconcile([keep], converged([keep, gone]));
    expect(plan.actions).toEqual([
      { kind: 'remove-container', name: 'c-gone' },
      { kind: 'remove-ports', names: ['vgone'] },
    ]);
  });

  it('never touches containers and ports that are not Fjord container ones', () => {
    const plan = planReconcile([], {
      containers: [
        { name: 'db-primary', state: 'running' },
        { name: 'c-UPPER', state: 'running' },
      ],
      ports: [{ name: 'uplink0', vlan: null, externalIds: { 'fjord-owner': 'hv1' } }],
    });
    expect(plan.actions).toEqual([]);
  });

  it('recreates a container whose spec changed and confirms its fingerprint only afterwards', () => {
    const before = desired('c-aaa');
    const after = desired('c-aaa', { vlan: 300, address: '10.0.1.10' });
    const plan = planReconcile([after], converged([before]));
    expect(plan.actions.map((x) => x.kind)).toEqual(['apply-ports', 'recreate-container', 'confirm-ports']);
    const [interim] = plan.actions[0]?.kind === 'apply-ports' ? plan.actions[0].ports : [];
    expect(interim).toMatchObject({ name: 'vaaa', vlan: 300, externalIds: { [SPEC_ID_KEY]: containerFingerprint(before) } });
    const [confirmed] = plan.actions[2]?.kind === 'confirm-ports' ? plan.actions[2].ports : [];
    expect(confirmed?.externalIds[SPEC_ID_KEY]).toBe(containerFingerprint(after));
  });

  it('tries a recreate again when the previous one stopped half-way', () => {
    const before = desired('c-aaa');
    const after = desired('c-aaa', { command: 'sleep 1000' });
    const half = converged([before]);
    // The interim port batch went through but the recreate failed: the port still holds the old fingerprint.
    const plan = planReconcile([after], { ...half, containers: [{ name: 'c-aaa', state: 'stopped' }] });
    expect(plan.actions.map((x) => x.kind)).toEqual(['recreate-container', 'confirm-ports']);
  });

  it('recreates an existing container whose port is missing, since its spec is unknown', () => {
    const want = [desired('c-aaa')];
    const plan = planReconcile(want, { containers: [{ name: 'c-aaa', state: 'running' }], ports: [] });
    expect(plan.actions.map((x) => x.kind)).toEqual(['apply-ports', 'recreate-container', 'confirm-ports']);
  });

  it('re-tags a port that drifted without recreating its container', () => {
    const want = [desired('c-aaa')];
    const observed = converged(want);
    const drifted = observed.ports.map((p) => ({ ...p, vlan: 999 }));
    const plan = planReconcile(want, { ...observed, ports: drifted });
    expect(plan.actions).toEqual([{ kind: 'apply-ports', ports: [expect.objectContaining({ name: 'vaaa', vlan: 100 })] }]);
  });

  it('refuses invalid desired containers without affecting the others', () => {
    const plan = planReconcile(
      [desired('c-ok'), desired('bad name'), desired('c-vlan', { vlan: 0 }), desired('c-ok', { vlan: 5 }), desired('c-ip', { address: 'x' })],
      { containers: [], ports: [] },
    );
    expect(plan.invalid.map((i) => i.runtimeName).sort()).toEqual(['bad name', 'c-ip', 'c-ok', 'c-vlan']);
    expect(plan.invalid.find((i) => i.runtimeName === 'c-vlan')?.reason).toBe('bad vlan 0: want 1-4094');
    expect(plan.actions.filter((a) => a.kind === 'create-container')).toHaveLength(1);
  });

  it('is deterministic whatever the input order', () => {
    const want = [desired('c-3'), desired('c-1'), desired('c-2')];
    const observed = { containers: [{ name: 'c-9', state: 'running' as const }, { name: 'c-8', state: 'stopped' as const }], ports: [] };
    expect(planReconcile(want, observed)).toEqual(planReconcile([...want].reverse(), { ...observed, containers: [...observed.containers].reverse() }));
  });
});

describe('vethName() and commandArgv()', () => {
  it('derives a veth name of at most 15 characters from the longest runtime name', () => {
    expect(vethName('c-1a2b3c4d5e6f')).toBe('v1a2b3c4d5e6f');
    expect(vethName('c-1a2b3c4d5e6f').length).toBeLessThanOrEqual(15);
  });

  it('splits a command on whitespace and treats an empty one as the default', () => {
    expect(commandArgv('  httpd  -f -p 80 ')).toEqual(['httpd', '-f', '-p', '80']);
    expect(commandArgv('')).toBeUndefined();
    expect(commandArgv('   ')).toBeUndefined();
  });
});

describe('containerMac()', () => {
  it('is locally administered and fixed by vlan and address', () => {
    expect(containerMac(100, '10.0.0.10')).toBe('02:00:64:00:00:0a');
    expect(containerMac(3999, '192.168.1.250')).toBe('02:0f:9f:a8:01:fa');
  });
  it('differs for the same address on two vlans and for two addresses on one vlan', () => {
    expect(containerMac(100, '10.10.0.2')).not.toBe(containerMac(101, '10.10.0.2'));
    expect(containerMac(100, '10.10.0.2')).not.toBe(containerMac(100, '10.10.0.3'));
  });
});

describe('runtimeNameOf()', () => {
  it('is c- and the first 12 hex digits of the id, a valid runtime name', () => {
    const name = runtimeNameOf('0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0');
    expect(name).toBe('c-0f1e2d3c4b5a');
    expect(isRuntimeName(name)).toBe(true);
  });
});
