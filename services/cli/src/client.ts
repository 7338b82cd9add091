import { credentials, Metadata, status, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { networkV1 } from '@fjord/proto';

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
  ) {
    super(`${status[code] ?? code}: ${details}`);
  }
}

/** The clients fjordctl talks to, all on one channel to the scheduler. */
export interface Clients {
  server: string;
  network: networkV1.NetworkServiceClient;
  close(): void;
}

/** Opens clients to the scheduler at `server` (host:port). */
export function connect(server: string): Clients {
  const network = new networkV1.NetworkServiceClient(server, credentials.createInsecure());
  return { server, network, close: () => network.close() };
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
      if (err) reject(new CallError(err.code, err.details || err.message, clients.server));
      else resolve(response);
    });
  });
}
