/**
 * The applier when a placement commit gets no answer (the connection lost while Postgres
 * committed): the commit counts all the same, so nothing is placed on room it took.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExhaustedError } from '@fjord/core';
import { acquireOrRenewLease, Allocator, listContainers, registerHosts } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { Applier } from '../../services/scheduler/src/applier.js';
import { FleetState } from '../../services/scheduler/src/fleet-state.js';
import { SCHEDULER_LEASE } from '../../services/scheduler/src/leader.js';
import type { ContainerSpecInput } from '../../services/scheduler/src/spec.js';
import { seedPhysicalNetwork } from '../support/placement-setup.js';

/** Lets the next placement statement run and commit, then throws as if its answer had been lost. */
class LoseNextPlacementAnswer implements KyselyPlugin {
  private readonly placements = new WeakSet<object>();
  private lost = false;
  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    const text = node.kind === 'RawNode' ? node.sqlFragments.join('') : '';
    if (text.includes('checked AS MATERIALIZED')) this.placements.add(queryId);
    return node;
  }
  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.placements.has(queryId) && !this.lost) {
      this.lost = true;
      throw new Error('Connection terminated unexpectedly (the test lost the answer)');
    }
    return result;
  }
}

const spec = (name: string): ContainerSpecInput => ({
  tenant: 'acme',
  name,
  network: 'web',
  template: 'busybox',
  cpuMillis: 100,
  memoryBytes: 2 ** 26,
  constraintTexts: [],
  constraints: [],
  antiAffinityGroup: undefined,
  spreadLabel: undefined,
  command: '',
});

let env: TestDatabase;

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  await new Allocator(env.db).createNetwork({ tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', cidr: '10.0.0.0/24' });
  // Room for one container only.
  await registerHosts(env.db, [{ name: 'hv1', labels: {}, physicalNetworks: ['physnet1'], capacity: { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 1 } }]);
});

afterAll(async () => {
  await env?.drop();
});

describe('applier, a placement commit without an answer', () => {
  it('answers the request with what committed, and counts it: the next placement finds the host full', async () => {
    const lease = await acquireOrRenewLease(env.db, SCHEDULER_LEASE, 'me', 60_000);
    const applier = new Applier(env.db.withPlugin(new LoseNextPlacementAnswer()), lease!, await FleetState.load(env.db), () => undefined, pino({ level: 'silent' }));
    try {
      const [a] = await applier.place([spec('a')], 'spread');
      expect(a).toMatchObject({ name: 'a', host: 'hv1' });
      await expect(applier.place([spec('b')], 'spread')).rejects.toBeInstanceOf(ExhaustedError);
      expect((await listContainers(env.db, {})).map((c) => c.name)).toEqual(['a']);
    } finally {
      await applier.stop();
    }
  });
});
