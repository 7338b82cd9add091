/**
 * The lab's control-plane relay: a host's worker reaches the control plane through it, a partition
 * cuts open connections and refuses new ones while the host's data plane keeps running, and heal
 * lets it through again.
 */
import { createServer, connect, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labControlPlane, labDown, labHeal, labPartition, labStatus, labUp, labWorkerConfig } from '@fjord/lab';
import { requireLab, skipLab } from './lab-env.js';

const LAB = { name: 'fjtcp' };

/** Sends `text` through `addr` and returns what comes back (or an error word). */
function roundTrip(addr: string, text: string): Promise<string> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const s = connect(port, host);
    let got = '';
    const done = (v: string) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(2000, () => done('timeout'));
    s.on('connect', () => s.write(text));
    s.on('data', (b) => {
      got += b.toString();
      if (got.length >= text.length) done(got);
    });
    s.on('error', () => done('error'));
    s.on('close', () => done(got || 'closed'));
  });
}

describe.skipIf(skipLab)('control-plane relay', () => {
  let echo: Server;
  let target: string;

  beforeAll(async () => {
    requireLab();
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const addr = echo.address();
    target = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    await labDown(LAB);
    await labUp({ ...LAB, hosts: 2, controlPlane: [{ name: 'nats', target }] });
  });

  afterAll(async () => {
    if (!skipLab) await labDown(LAB);
    echo?.close();
  });

  it('gives each host its own way to the control plane, and a worker config using it', async () => {
    const [cp1, cp2] = [await labControlPlane(LAB, 'hv1'), await labControlPlane(LAB, 'hv2')];
    expect(cp1.nats).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cp1.nats).not.toBe(cp2.nats);
    expect(await roundTrip(cp1.nats!, 'hello')).toBe('hello');
    expect(await labWorkerConfig(LAB, 'hv1')).toMatchObject({ host: 'hv1', natsUrl: `nats://${cp1.nats}`, driver: { kind: 'lxc-ovs', netns: 'fjtcp-hv1', bridge: 'br-hv1' } });
    expect((await labStatus(LAB)).relayPid).not.toBeNull();
  });

  it('cuts a partitioned host off, open connections included, and lets it back after heal', async () => {
    const { nats: hv1 } = await labControlPlane(LAB, 'hv1');
    const { nats: hv2 } = await labControlPlane(LAB, 'hv2');
    const [host, port] = [hv1!.split(':')[0]!, Number(hv1!.split(':')[1])];
    const open = connect(port, host);
    await new Promise<void>((r) => open.on('connect', () => r()));
    const closed = new Promise<void>((r) => open.on('close', () => r()));
    await labPartition(LAB, 'hv1');
    await closed;
    expect(['closed', 'error']).toContain(await roundTrip(hv1!, 'ping'));
    expect(await roundTrip(hv2!, 'ping')).toBe('ping');
    await labHeal(LAB, 'hv1');
    expect(await roundTrip(hv1!, 'back')).toBe('back');
  });
});
