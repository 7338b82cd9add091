import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toGrpcStatus } from './status.js';

/** A unary handler written as an async function; errors become gRPC statuses in one place. */
export function unary<Req, Res>(
  log: Logger,
  method: string,
  handler: (request: Req) => Promise<Res>,
): (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    handler(call.request).then(
      (response) => callback(null, response),
      (err: unknown) => {
        const grpcStatus = toGrpcStatus(err);
        if (grpcStatus.code === 13) log.error({ err, method }, 'request failed');
        else log.debug({ method, code: grpcStatus.code, details: grpcStatus.details }, 'request refused');
        callback(grpcStatus, null);
      },
    );
  };
}
