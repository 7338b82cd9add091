import { describe, expect, it } from 'vitest';
import { bridgeMutated, listPortsTxn, parseListPorts, planApplyPorts, removePortsTxn, txnResults, type PortRow } from './ovs-plan.js';
import { jsonEnd } from './ovsdb-rpc.js';

describe('listPortsTxn() and parseListPorts()', () => {
  it('reads owned ports and the bridge port set in one transaction', () => {
    expect(listPortsTxn('br-hv1', 'hv1')).toEqual([
      'Open_vSwitch',
      {
        op: 'select',
        table: 'Port',
        where: [['external_ids', 'includes', ['map', [['fjord-owner', 'hv1']]]]],
        columns: ['_uuid', 'name', 'tag', 'external_ids'],
      },
      { op: 'select', table: 'Bridge', where: [['name', '==', 'br-hv1']], columns: ['ports'] },
    ]);
  });

  it('keeps owned ports that are on the bridge, with tag and external_ids, sorted', () => {
    const results = [
      {
        rows: [
          { _uuid: ['uuid', 'u1'], name: 'v-a1', tag: 101, external_ids: ['map', [['fjord-owner', 'hv1']]] },
          { _uuid: ['uuid', 'u9'], name: 'elsewhere', tag: 5, external_ids: ['map', [['fjord-owner', 'hv1']]] },
          { _uuid: ['uuid', 'u2'], name: 'trunk', tag: ['set', []], external_ids: ['map', []] },
        ],
      },
      { rows: [{ ports: ['set', [['uuid', 'u1'], ['uuid', 'u2'], ['uuid', 'u3']]] }] },
    ];
    expect(parseListPorts(results)).toEqual([
      { uuid: 'u2', name: 'trunk', vlan: null, externalIds: {} },
      { uuid: 'u1', name: 'v-a1', vlan: 101, externalIds: { 'fjord-owner': 'hv1' } },
    ]);
  });

  it('reads a bridge with a single port, and says when the bridge is missing', () => {
    const ports = { rows: [{ _uuid: ['uuid', 'u1'], name: 'p', tag: 7, external_ids: ['map', []] }] };
    expect(parseListPorts([ports, { rows: [{ ports: ['uuid', 'u1'] }] }])).toEqual([{ uuid: 'u1', name: 'p', vlan: 7, externalIds: {} }]);
    expect(parseListPorts([ports, { rows: [] }])).toBeNull();
  });
});

describe('txnResults()', () => {
  it('returns the first failure of a transaction as a value', () => {
    expect(txnResults([{ uuid: ['uuid', 'x'] }, { count: 1 }, { error: 'constraint violation', details: 'duplicate name' }])).toEqual({
      ok: false,
      error: 'constraint violation',
      details: 'duplicate name',
    });
    expect(txnResults([{ count: 1 }])).toEqual({ ok: true, results: [{ count: 1 }] });
    expect(bridgeMutated([{}, { count: 0 }])).toBe(false);
  });
});

describe('planApplyPorts()', () => {
  const current: PortRow[] = [
    { uuid: 'u1', name: 'v-a1', vlan: 101, externalIds: { 'fjord-owner': 'hv1' } },
    { uuid: 'u2', name: 'v-a2', vlan: 101, externalIds: { 'fjord-owner': 'hv1', old: 'x' } },
  ];

  it('inserts missing ports, updates changed ones and leaves the rest, in one transaction', () => {
    const plan = planApplyPorts('br-hv1', 'hv1', [
      { name: 'v-a1', vlan: 101 },
      { name: 'v-a2', vlan: 102 },
      { name: 'v-b1', vlan: 102, externalIds: { 'fjord-container': 'b1' } },
    ], current);
    expect(plan).toEqual({
      added: ['v-b1'],
      updated: ['v-a2'],
      unchanged: ['v-a1'],
      txn: [
        'Open_vSwitch',
        { op: 'update', table: 'Port', where: [['_uuid', '==', ['uuid', 'u2']]], row: { tag: 102, external_ids: ['map', [['fjord-owner', 'hv1']]] } },
        { op: 'insert', table: 'Interface', row: { name: 'v-b1' }, 'uuid-name': 'i0' },
        {
          op: 'insert',
          table: 'Port',
          row: { name: 'v-b1', interfaces: ['named-uuid', 'i0'], tag: 102, external_ids: ['map', [['fjord-container', 'b1'], ['fjord-owner', 'hv1']]] },
          'uuid-name': 'p0',
        },
        { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br-hv1']], mutations: [['ports', 'insert', ['set', [['named-uuid', 'p0']]]]] },
      ],
    });
  });

  it('plans nothing when everything is as wanted', () => {
    const plan = planApplyPorts('br-hv1', 'hv1', [{ name: 'v-a1', vlan: 101 }], current);
    expect(plan.txn).toBeNull();
    expect(plan.unchanged).toEqual(['v-a1']);
  });

  it('refuses bad names, bad tags and duplicates', () => {
    expect(() => planApplyPorts('br', 'h', [{ name: 'a-name-that-is-too-long', vlan: 1 }], [])).toThrow(/bad interface name/);
    expect(() => planApplyPorts('br', 'h', [{ name: 'p', vlan: 4095 }], [])).toThrow(/bad vlan 4095/);
    expect(() => planApplyPorts('br', 'h', [{ name: 'p', vlan: 1 }, { name: 'p', vlan: 2 }], [])).toThrow(/given twice/);
  });
});

describe('removePortsTxn()', () => {
  it('takes every port off the bridge in one mutation, or plans nothing', () => {
    expect(removePortsTxn('br', [{ uuid: 'u1', name: 'a', vlan: 1, externalIds: {} }])).toEqual([
      'Open_vSwitch',
      { op: 'mutate', table: 'Bridge', where: [['name', '==', 'br']], mutations: [['ports', 'delete', ['set', [['uuid', 'u1']]]]] },
    ]);
    expect(removePortsTxn('br', [])).toBeNull();
  });
});

describe('jsonEnd()', () => {
  it('finds the end of the first JSON value, minding strings', () => {
    expect(jsonEnd('{"a":"}{"}{"b":1}')).toBe(10);
    expect(jsonEnd('{"a":"\\"}"')).toBe(-1);
    expect(jsonEnd('[1,[2]] ')).toBe(7);
  });
});
