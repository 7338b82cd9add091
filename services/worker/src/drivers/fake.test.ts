import { describe, expect, it } from 'vitest';
import { FakeRuntime, FakeSwitch } from './fake.js';

describe('FakeSwitch', () => {
  it('applies a batch once and changes nothing the second time', async () => {
    const sw = new FakeSwitch('br-hv1', 'hv1');
    await sw.ensureBridge();
    const ports = [{ name: 'v-a1', vlan: 101 }, { name: 'v-b1', vlan: 102 }];
    expect(await sw.applyPorts(ports)).toEqual({ added: ['v-a1', 'v-b1'], updated: [], unchanged: [] });
    expect(await sw.applyPorts(ports)).toEqual({ added: [], updated: [], unchanged: ['v-a1', 'v-b1'] });
    expect(sw.transactions).toBe(1);
  });

  it('never lists or removes a port it does not own', async () => {
    const sw = new FakeSwitch('br-hv1', 'hv1');
    await sw.ensureBridge();
    sw.ports.set('uplink', { name: 'uplink', vlan: null, externalIds: {} });
    await sw.applyPorts([{ name: 'v-a1', vlan: 101 }]);
    expect((await sw.listPorts()).map((p) => p.name)).toEqual(['v-a1']);
    expect(await sw.removePorts(['uplink', 'v-a1', 'gone'])).toEqual(['v-a1']);
    expect([...sw.ports.keys()]).toEqual(['uplink']);
  });
});

describe('FakeRuntime', () => {
  it('creates, starts, stops and destroys idempotently', async () => {
    const rt = new FakeRuntime();
    const spec = { name: 'a1', template: 'busybox', network: { bridge: 'br', vlan: 101, vethPair: 'v-a1', ip: '10.0.0.2', prefix: 24 } };
    expect(await rt.create(spec)).toBe('created');
    expect(await rt.create(spec)).toBe('unchanged');
    await rt.start('a1');
    const [running] = await rt.list();
    await rt.start('a1');
    expect(await rt.list()).toEqual([running]);
    await rt.stop('a1');
    await rt.destroy('a1');
    await rt.destroy('a1');
    expect(await rt.list()).toEqual([]);
  });
});
