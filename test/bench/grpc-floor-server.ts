/**
 * The server half of the `grpc-floor` benchmark, run as a child process: a PlacementService whose
 * `place` answers at once with a fixed container (grpc-js answers the other methods UNIMPLEMENTED).
 * It tells its parent the port it listens on.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { placementV1 } from '@fjord/proto';

/** About the size of a real answer: the spec as the benchmark sends it, and what placing adds. */
const answer = placementV1.PlaceResponse.fromPartial({
  container: {
    id: '6f1c2b1e-3d4a-4c5b-9e8f-0a1b2c3d4e5f',
    spec: { tenant: 't2', name: 's12345', network: 'net', cpuMillis: 10, memoryBytes: 16n * 2n ** 20n },
    host: 'sim-01234',
    address: '10.2.48.57',
    vlan: 102,
    state: 'PENDING',
    createdAt: '2026-11-29T20:00:00.000Z',
    updatedAt: '2026-11-29T20:00:00.000Z',
  },
});

const server = new Server();
server.addService(placementV1.PlacementServiceService, {
  place: (_call: ServerUnaryCall<placementV1.PlaceRequest, placementV1.PlaceResponse>, callback: sendUnaryData<placementV1.PlaceResponse>) =>
    callback(null, answer),
});
// Gone with its parent, even one that did not get to kill it.
process.on('disconnect', () => process.exit());
server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send!({ port });
});
