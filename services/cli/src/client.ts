import { credentials, Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { fleetV1, networkV1, placementV1 } from '@fjord/proto';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** A refused or failed call, carrying the server's gRPC status for the CLI to print. */
export class CallError extends Error {
  override readonly name = 'CallError';
  constructor(
    readonly code: status,
    readonly details: string,
    readonly server: string,
    /** The call's deadline, in milliseconds after it started; absent for calls without one (streams). */
    readonly timeoutMs?: number,
  ) {
    super(`${status[code] ?? code}: ${details}`);
  }
}

/** The clients fjordctl talks to, all on one channel to the scheduler. */
export interface Clients {
  server: string;
  network: networkV1.NetworkServiceClient;
  placement: placementV1.PlacementServiceClient;
  fleet: fleetV1.FleetServiceClient;
  close(): void;
}

/** Opens clients to the scheduler at `server` (host:port). */
export function connect(server: string): Clients {
  const creds = credentials.createInsecure();
  const network = new networkV1.NetworkServiceClient(server, creds);
  // The other clients share the first one's channel.
  const channel = { channelOverride: network.getChannel() };
  const placement = new placementV1.PlacementServiceClient(server, creds, channel);
  const fleet = new fleetV1.FleetServiceClient(server, creds, channel);
  return { server, network, placement, fleet, close: () => network.close() };
}

/** Calls one unary method with a deadline, resolving to the response or rejecting with a CallError. */
export function callUnary<Req, Res>(
  clients: Clients,
  client: object,
  method: UnaryMethod<Req, Res>,
  request: Req,
  timeoutMs = 30_000,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, response) => {
      if (err) reject(new CallError(err.code, err.details || err.message, clients.server, timeoutMs));
      else resolve(response);
    });
  });
}
