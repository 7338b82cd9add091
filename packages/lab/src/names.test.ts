import { describe, expect, it } from 'vitest';
import { clientNetns, hostNames, labDir, labLayout } from './names.js';
import { parseTarget } from './relay.js';

describe('labLayout()', () => {
  it('derives every name and path from the lab name, state dir and hosts', () => {
    const l = labLayout({ name: 'fjt', stateDir: '/run/x' }, ['hv1']);
    expect(l).toEqual({
      name: 'fjt',
      dir: '/run/x/fjt',
      stateFile: '/run/x/fjt/lab.json',
      templateCache: '/run/x/fjt/templates',
      tor: { netns: 'fjt-tor', bridge: 'br-tor', ovsRundir: '/run/x/fjt/tor/ovs', ovsDb: 'unix:/run/x/fjt/tor/ovs/db.sock' },
      hosts: [
        {
          name: 'hv1',
          netns: 'fjt-hv1',
          bridge: 'br-hv1',
          dir: '/run/x/fjt/hv1',
          ovsRundir: '/run/x/fjt/hv1/ovs',
          ovsDb: 'unix:/run/x/fjt/hv1/ovs/db.sock',
          lxcPath: '/run/x/fjt/hv1/lxc',
          uplink: 'uplink',
          torPort: 'hv1',
          env: {
            FJORD_HOST_ID: 'hv1',
            FJORD_NETNS: 'fjt-hv1',
            FJORD_BRIDGE: 'br-hv1',
            FJORD_LXC_PATH: '/run/x/fjt/hv1/lxc',
            FJORD_TEMPLATE_CACHE: '/run/x/fjt/templates',
            OVS_RUNDIR: '/run/x/fjt/hv1/ovs',
          },
        },
      ],
    });
    expect(clientNetns('fjt', 101)).toBe('fjt-cl101');
  });

  it('defaults to lab fj under /run/fjord-lab and refuses names that could collide', () => {
    expect(labDir({})).toEqual({ name: 'fj', dir: '/run/fjord-lab/fj' });
    expect(() => labDir({ name: 'fj-x' })).toThrow(/bad lab name/);
    expect(() => labDir({ name: 'averylongname' })).toThrow(/bad lab name/);
  });
});

describe('hostNames()', () => {
  it('numbers hosts hv1..hvN and validates given names', () => {
    expect(hostNames(3)).toEqual(['hv1', 'hv2', 'hv3']);
    expect(() => hostNames(0)).toThrow(/bad host count/);
    expect(() => hostNames(['tor'])).toThrow(/bad host name/);
    expect(() => hostNames(['cl1'])).toThrow(/bad host name/);
    expect(() => hostNames(['a', 'a'])).toThrow(/repeat/);
  });
});

describe('parseTarget()', () => {
  it('splits host:port and refuses anything else', () => {
    expect(parseTarget('127.0.0.1:4222')).toEqual({ host: '127.0.0.1', port: 4222 });
    expect(() => parseTarget('4222')).toThrow(/bad relay target/);
    expect(() => parseTarget('h:99999')).toThrow(/bad relay target/);
  });
});
