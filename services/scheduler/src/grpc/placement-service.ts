import type { ServerWritableStream } from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { InvalidArgumentError, NotFoundError, ScoringPolicy } from '@fjord/core';
import { decode, type Subjects } from '@fjord/bus';
import { placementV1 } from '@fjord/proto';
import { checkName, findContainers, lastEventSequence, listContainers, listEvents, type ContainerRecord, type Database } from '@fjord/store';
import { toProtoEvent } from '../relay.js';
import { specFromProto } from '../spec.js';
import type { Writes } from '../writes.js';
import { toGrpcStatus } from './status.js';
import { unary } from './unary.js';

/** The most containers one PlaceBatch may carry. */
export const MAX_BATCH = 5000;

/** A stored container in its wire form. */
export function toProtoContainer(c: ContainerRecord): placementV1.Container {
  return {
    id: c.id,
    spec: {
      tenant: c.tenant,
      name: c.name,
      network: c.network,
      template: c.template,
      cpuMillis: c.cpuMillis,
      memoryBytes: BigInt(c.memoryBytes),
      constraints: c.constraints,
      antiAffinityGroup: c.antiAffinityGroup ?? '',
      spreadLabel: c.spreadLabel ?? '',
      command: c.command,
    },
    host: c.host,
    address: c.address,
    vlan: c.vlan,
    state: c.state,
    observed: c.observed,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString(),
  };
}

function policyOf(policy: string): ScoringPolicy {
  if (policy === '' || policy === ScoringPolicy.Binpack) return ScoringPolicy.Binpack;
  if (policy === ScoringPolicy.Spread) return ScoringPolicy.Spread;
  throw new InvalidArgumentError('policy', `must be "binpack" or "spread", got ${JSON.stringify(policy)}`);
}

/** Dependencies of the PlacementService. */
export interface PlacementServiceDeps {
  db: Kysely<Database>;
  writes: Writes;
  nc: NatsConnection;
  subjects: Subjects;
  log: Logger;
}

/** The gRPC PlacementService: validates at the edge, writes through the leader, reads from Postgres. */
export function placementService(deps: PlacementServiceDeps): placementV1.PlacementServiceServer {
  const { db, writes, log } = deps;
  const handle = <Req, Res>(method: string, fn: (request: Req) => Promise<Res>) => unary(log, method, fn);
  return {
    place: handle('Place', async (req: placementV1.PlaceRequest) => {
      const policy = policyOf(req.policy);
      const spec = specFromProto(req.container, 'container');
      const [container] = await writes.place([spec], policy);
      return { container: toProtoContainer(container!) };
    }),
    placeBatch: handle('PlaceBatch', async (req: placementV1.PlaceBatchRequest) => {
      const policy = policyOf(req.policy);
      if (req.containers.length === 0) throw new InvalidArgumentError('containers', 'is empty');
      if (req.containers.length > MAX_BATCH) throw new InvalidArgumentError('containers', `at most ${MAX_BATCH} per batch, got ${req.containers.length}`);
      const specs = req.containers.map((c, i) => specFromProto(c, `containers[${i}]`));
      const containers = await writes.place(specs, policy);
      return { containers: containers.map(toProtoContainer) };
    }),
    getContainer: handle('GetContainer', async (req: placementV1.GetContainerRequest) => {
      const [container] = await findContainers(db, [{ tenant: req.tenant, name: req.name }]);
      if (!container) throw new NotFoundError('name', `container ${req.tenant}/${req.name} does not exist`);
      return { container: toProtoContainer(container) };
    }),
    listContainers: handle('ListContainers', async (req: placementV1.ListContainersRequest) => ({
      containers: (await listContainers(db, { tenant: req.tenant, host: req.host, network: req.network, limit: req.limit })).map(toProtoContainer),
    })),
    deleteContainer: handle('DeleteContainer', async (req: placementV1.DeleteContainerRequest) => {
      if (req.tenant === '') throw new InvalidArgumentError('tenant', 'is required');
      if (req.name === '') throw new InvalidArgumentError('name', 'is required');
      await writes.deleteContainer(req.tenant, req.name);
      return {};
    }),
    watch: (call) => void watch(deps, call),
  };
}

/**
 * Ends a stream with `err`'s status. grpc-js sends a stream's status when an 'error' is emitted on
 * it; `destroy(err)` would close it without one, leaving the client waiting.
 */
function fail(call: ServerWritableStream<placementV1.WatchRequest, placementV1.WatchResponse>, err: unknown): void {
  const grpcStatus = toGrpcStatus(err);
  call.emit('error', Object.assign(new Error(grpcStatus.details), grpcStatus));
}

/** The sequence after which a watch starts: every event kept, those after `after_sequence`, or new ones only (0). */
async function watchStart(db: Kysely<Database>, req: placementV1.WatchRequest): Promise<number> {
  if (req.tenant !== '') checkName(req.tenant, 'tenant');
  if (req.fromStart && req.afterSequence !== 0n) throw new InvalidArgumentError('from_start', 'replays from the first event: leave after_sequence 0');
  if (req.fromStart) return 0;
  return req.afterSequence === 0n ? lastEventSequence(db) : Number(req.afterSequence);
}

/**
 * Streams events: first those after the start (see {@link watchStart}) from Postgres, then new
 * ones as the relay publishes them. The subscription starts before the replay, and sequence
 * numbers drop repeats, so nothing falls between the two.
 */
async function watch(deps: PlacementServiceDeps, call: ServerWritableStream<placementV1.WatchRequest, placementV1.WatchResponse>): Promise<void> {
  const { db, nc, subjects, log } = deps;
  const tenant = call.request.tenant;
  let start: number;
  try {
    start = await watchStart(db, call.request);
  } catch (err) {
    fail(call, err);
    return;
  }
  let last = start;
  let replaying = true;
  const buffered: placementV1.Event[] = [];
  const send = (event: placementV1.Event) => {
    const sequence = Number(event.sequence);
    if (sequence <= last) return;
    last = sequence;
    call.write({ event });
  };
  const sub = nc.subscribe(tenant ? subjects.events(tenant) : subjects.allEvents(), {
    callback: (err, msg) => {
      if (err) return;
      try {
        const { events } = decode(placementV1.EventBatch, 'EventBatch', msg.subject, msg.data);
        if (replaying) buffered.push(...events);
        else events.forEach(send);
      } catch (error) {
        log.warn({ err: error }, 'dropped a malformed event');
      }
    },
  });
  call.on('cancelled', () => sub.unsubscribe());
  call.on('close', () => sub.unsubscribe());
  try {
    for (;;) {
      const page = await listEvents(db, last, tenant || undefined, 1000);
      for (const e of page) send(toProtoEvent(e));
      if (page.length < 1000) break;
    }
    replaying = false;
    for (const event of buffered.splice(0)) send(event);
  } catch (err) {
    sub.unsubscribe();
    fail(call, err);
  }
}
