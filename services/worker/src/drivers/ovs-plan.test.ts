import { describe, expect, it } from 'vitest';
import type { PortInfo } from './types.js';
import { listPortsArgs, parseListPorts, planApplyPorts, planRemovePorts } from './ovs-plan.js';

describe('parseListPorts()', () => {
  it('keeps owned ports that are on the bridge, with tag and external_ids', () => {
    const out = [
      '{"data":[[["uuid","u1"],"v-a1",101,["map",[["fjord-owner","hv1"]]]],[["uuid","u9"],"elsewhere",5,["map",[["fjord-owner","hv1"]]]],[["uuid","u2"],"trunk",["set",[]],["map",[]]]],"headings":["_uuid","name","tag","external_ids"]}',
      '{"data":[[["set",[["uuid","u1"],["uuid","u2"],["uuid","u3"]]]]],"headings":["ports"]}',
      '',
    ].join('\n');
    expect(parseListPorts(out)).toEqual([
      { name: 'trunk', vlan: null, externalIds: {} },
      { name: 'v-a1', vlan: 101, externalIds: { 'fjord-owner': 'hv1' } },
    ]);
  });

  it('reads a bridge with a single port', () => {
    const out = '{"data":[[["uuid","u1"],"p",7,["map",[]]]],"headings":["_uuid","name","tag","external_ids"]}\n{"data":[[["uuid","u1"]]],"headings":["ports"]}\n';
    expect(parseListPorts(out)).toEqual([{ name: 'p', vlan: 7, externalIds: {} }]);
  });

  it('asks ovs-vsctl for both tables in one call', () => {
    expect(listPortsArgs('br-hv1', 'hv1')).toEqual([
      '--format=json',
      '--columns=_uuid,name,tag,external_ids',
      'find',
      'port',
      'external_ids:fjord-owner=hv1',
      '--',
      '--columns=ports',
      'list',
      'bridge',
      'br-hv1',
    ]);
  });
});

describe('planApplyPorts()', () => {
  const current: PortInfo[] = [
    { name: 'v-a1', vlan: 101, externalIds: { 'fjord-owner': 'hv1' } },
    { name: 'v-a2', vlan: 101, externalIds: { 'fjord-owner': 'hv1', old: 'x' } },
  ];

  it('adds missing ports, retags changed ones and leaves the rest, in one transaction', () => {
    const plan = planApplyPorts('br-hv1', 'hv1', [
      { name: 'v-a1', vlan: 101 },
      { name: 'v-a2', vlan: 102 },
      { name: 'v-b1', vlan: 102, externalIds: { 'fjord-container': 'b 1' } },
    ], current);
    expect(plan).toEqual({
      added: ['v-b1'],
      updated: ['v-a2'],
      unchanged: ['v-a1'],
      args: [
        '--', 'set', 'port', 'v-a2', 'tag=102', 'external_ids:fjord-owner=hv1',
        '--', 'remove', 'port', 'v-a2', 'external_ids', 'old',
        '--', '--may-exist', 'add-port', 'br-hv1', 'v-b1', '--', 'set', 'port', 'v-b1', 'tag=102',
        'external_ids:fjord-container="b 1"', 'external_ids:fjord-owner=hv1',
      ],
    });
  });

  it('plans nothing when everything is as wanted', () => {
    const plan = planApplyPorts('br-hv1', 'hv1', [{ name: 'v-a1', vlan: 101 }], current);
    expect(plan.args).toEqual([]);
    expect(plan.unchanged).toEqual(['v-a1']);
  });

  it('refuses bad names, bad tags and duplicates', () => {
    expect(() => planApplyPorts('br', 'h', [{ name: 'a-name-that-is-too-long', vlan: 1 }], [])).toThrow(/bad interface name/);
    expect(() => planApplyPorts('br', 'h', [{ name: 'p', vlan: 4095 }], [])).toThrow(/bad vlan 4095/);
    expect(() => planApplyPorts('br', 'h', [{ name: 'p', vlan: 1 }, { name: 'p', vlan: 2 }], [])).toThrow(/given twice/);
  });
});

describe('planRemovePorts()', () => {
  it('deletes every port in one transaction, tolerating missing ones', () => {
    expect(planRemovePorts('br', ['a', 'b'])).toEqual(['--', '--if-exists', 'del-port', 'br', 'a', '--', '--if-exists', 'del-port', 'br', 'b']);
  });
});
