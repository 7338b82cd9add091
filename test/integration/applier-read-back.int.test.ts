/**
 * The applier when Postgres does not answer around a commit: a placement commit without an answer
 * (the connection lost while Postgres committed) counts all the same, so nothing is placed on room
 * it took; hosts a commit changed that cannot be read back make the replica step down rather than
 * lead on a view without the change.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExhaustedError, UnavailableError } from '@fjord/core';
import { acquireOrRenewLease, Allocator, listContainers, listHosts, registerHosts } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { Applier } from '../../services/scheduler/src/applier.js';
import { FleetState } from '../../services/scheduler/src/fleet-state.js';
import { SCHEDULER_LEASE } from '../../services/scheduler/src/leader.js';
import type { ContainerSpecInput } from '../../services/scheduler/src/spec.js';
import { seedPhysicalNetwork } from '../support/placement-setup.js';

/** Lets the next statement whose text holds `marker` run (and commit), then throws as if its answer had been lost. */
class LoseNextAnswer implements KyselyPlugin {
  private readonly marked = new WeakSet<object>();
  private lost = false;
  constructor(private readonly marker: string) {}
  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    if (node.kind === 'RawNode' && node.sqlFragments.join('').includes(this.marker)) this.marked.add(queryId);
    return node;
  }
  async transformResult({ result, queryId }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.marked.has(queryId) && !this.lost) {
      this.lost = true;
      throw new Error('Connection terminated unexpectedly (the test lost the answer)');
    }
    return result;
  }
}
/** The placement statement (packages/store recordPlacement). */
const PLACEMENT = 'checked AS MATERIALIZED';
/** The hosts read (packages/store listHosts). */
const HOSTS_READ = 'LEFT JOIN host_liveness l ON l.name = h.name';

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
    const applier = new Applier(env.db.withPlugin(new LoseNextAnswer(PLACEMENT)), lease!, await FleetState.load(env.db, 60_000), () => undefined, pino({ level: 'silent' }));
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

describe('applier, hosts a commit changed that cannot be read back', () => {
  it('steps down, and places nothing more, rather than lead on a view without the change', async () => {
    const lease = await acquireOrRenewLease(env.db, SCHEDULER_LEASE, 'me', 60_000);
    const stepDowns: string[] = [];
    const applier = new Applier(env.db.withPlugin(new LoseNextAnswer(HOSTS_READ)), lease!, await FleetState.load(env.db, 60_000), () => undefined, pino({ level: 'silent' }), (reason) => void stepDowns.push(reason));
    try {
      const cordon = applier.setHostState('hv1', 'CORDONED', 'host.cordoned');
      // Queued behind it: answered UNAVAILABLE when the applier steps down, not left waiting for a stop.
      const queued = applier.recordStaleMarks([{ name: 'hv1', heardAt: null, stale: true }]);
      await expect(cordon).rejects.toThrow(/the test lost the answer/);
      await expect(queued).rejects.toBeInstanceOf(UnavailableError);
      expect(stepDowns).toEqual(['hosts changed by a commit could not be read back']);
      expect((await listHosts(env.db, { name: 'hv1' }))[0]?.state).toBe('CORDONED'); // it did commit
      await expect(applier.place([spec('c')], 'spread')).rejects.toBeInstanceOf(UnavailableError);
    } finally {
      await applier.stop();
    }
  });
});
