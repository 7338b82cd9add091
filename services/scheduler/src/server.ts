import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Subjects } from '@fjord/bus';
import { fleetV1, networkV1, placementV1, protoRoot } from '@fjord/proto';
import type { Allocator, Database } from '@fjord/store';
import { fleetService } from './grpc/fleet-service.js';
import { networkService } from './grpc/network-service.js';
import { placementService } from './grpc/placement-service.js';
import type { Writes } from './writes.js';

/** What the gRPC server needs from the rest of the scheduler. */
export interface GrpcServerDeps {
  allocator: Allocator;
  log: Logger;
  /** With these, the placement and fleet services are served too (the network service needs none). */
  placement?: { db: Kysely<Database>; writes: Writes; nc: NatsConnection; subjects: Subjects };
}

/** A started gRPC server and the port it bound (useful when asked for port 0). */
export interface RunningGrpcServer {
  server: Server;
  port: number;
  health: HealthImplementation;
  close(): Promise<void>;
}

function reflectionDefinition() {
  const dir = join(protoRoot, 'fjord/v1');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .map((f) => join('fjord/v1', f));
  return loadSync(files, { includeDirs: [protoRoot] });
}

/** Builds the scheduler's gRPC server (services, health, reflection) and binds it to `listen`. */
export async function startGrpcServer(listen: string, deps: GrpcServerDeps): Promise<RunningGrpcServer> {
  const server = new Server();
  server.addService(networkV1.NetworkServiceService, networkService(deps.allocator, deps.log));
  const serving: Record<string, 'SERVING'> = { '': 'SERVING', 'fjord.v1.NetworkService': 'SERVING' };
  if (deps.placement) {
    const { db, writes, nc, subjects } = deps.placement;
    server.addService(placementV1.PlacementServiceService, placementService({ db, writes, nc, subjects, log: deps.log }));
    server.addService(fleetV1.FleetServiceService, fleetService(db, writes, deps.log));
    serving['fjord.v1.PlacementService'] = 'SERVING';
    serving['fjord.v1.FleetService'] = 'SERVING';
  }
  const health = new HealthImplementation(serving);
  health.addToServer(server);
  new ReflectionService(reflectionDefinition()).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(new Error(`bind gRPC server to ${listen}: ${err.message}`)) : resolve(boundPort),
    );
  });
  return {
    server,
    port,
    health,
    close: () =>
      new Promise<void>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        // Let in-flight calls finish for a moment, then cut whatever is left.
        const timer = setTimeout(() => server.forceShutdown(), 2_000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
