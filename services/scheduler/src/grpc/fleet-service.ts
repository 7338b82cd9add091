import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { HostState, InvalidArgumentError, NotFoundError } from '@fjord/core';
import type { fleetV1 } from '@fjord/proto';
import { listHosts, type Database, type HostRecord } from '@fjord/store';
import type { Writes } from '../writes.js';
import { unary } from './unary.js';

function toProtoHost(h: HostRecord): fleetV1.Host {
  return {
    name: h.name,
    labels: h.labels,
    state: h.state,
    epoch: BigInt(h.epoch),
    physicalNetworks: h.physicalNetworks,
    cpuMillisCapacity: h.capacity.cpuMillis,
    cpuMillisUsed: h.usage.cpuMillis,
    memoryBytesCapacity: BigInt(h.capacity.memoryBytes),
    memoryBytesUsed: BigInt(h.usage.memoryBytes),
    slotsCapacity: h.capacity.slots,
    slotsUsed: h.usage.slots,
    lastHeartbeatAt: h.lastHeartbeatAt?.toISOString() ?? '',
    desiredGeneration: BigInt(h.desiredGeneration),
    appliedGeneration: BigInt(h.appliedGeneration),
    stale: h.stale,
  };
}

const states = new Set<string>(Object.values(HostState));

/** The gRPC FleetService: hosts from Postgres; cordon and uncordon through the leader. */
export function fleetService(db: Kysely<Database>, writes: Writes, log: Logger): fleetV1.FleetServiceServer {
  const handle = <Req, Res>(method: string, fn: (request: Req) => Promise<Res>) => unary(log, method, fn);
  const getHost = async (name: string): Promise<fleetV1.Host> => {
    if (name === '') throw new InvalidArgumentError('name', 'is required');
    const [host] = await listHosts(db, { name });
    if (!host) throw new NotFoundError('name', `host ${name} does not exist`);
    return toProtoHost(host);
  };
  return {
    listHosts: handle('ListHosts', async (req: fleetV1.ListHostsRequest) => {
      if (req.state !== '' && !states.has(req.state)) throw new InvalidArgumentError('state', `must be one of ${[...states].join(', ')}`);
      return { hosts: (await listHosts(db, req.state ? { state: req.state } : {})).map(toProtoHost) };
    }),
    getHost: handle('GetHost', async (req: fleetV1.GetHostRequest) => ({ host: await getHost(req.name) })),
    cordonHost: handle('CordonHost', async (req: fleetV1.CordonHostRequest) => {
      await getHost(req.name);
      await writes.setHostState(req.name, HostState.Cordoned, 'host.cordoned');
      return { host: await getHost(req.name) };
    }),
    uncordonHost: handle('UncordonHost', async (req: fleetV1.UncordonHostRequest) => {
      await getHost(req.name);
      await writes.setHostState(req.name, HostState.Ready, 'host.uncordoned');
      return { host: await getHost(req.name) };
    }),
  };
}
