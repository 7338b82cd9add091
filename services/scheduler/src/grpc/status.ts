import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  AlreadyExistsError,
  ExhaustedError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '@fjord/core';

/** A gRPC status ready to hand to a callback: code, details and metadata naming the field or pool. */
export type GrpcStatus = Pick<ServiceError, 'code' | 'details' | 'metadata'> & { message: string };

/**
 * The one mapping from Fjord's errors to gRPC status codes (STYLE.md item 16). The offending
 * field or pool also travels as metadata (`fjord-field`, `fjord-pool`) for programs to read.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  const metadata = new Metadata();
  const make = (code: status, details: string): GrpcStatus => ({ code, details, message: details, metadata });
  if (err instanceof InvalidArgumentError) {
    metadata.set('fjord-field', err.field);
    return make(status.INVALID_ARGUMENT, err.message);
  }
  if (err instanceof NotFoundError) {
    metadata.set('fjord-field', err.field);
    return make(status.NOT_FOUND, err.message);
  }
  if (err instanceof AlreadyExistsError) {
    metadata.set('fjord-field', err.field);
    return make(status.ALREADY_EXISTS, err.message);
  }
  if (err instanceof ExhaustedError) {
    metadata.set('fjord-pool', err.pool);
    const details = err.details.length > 0 ? `${err.message} (${err.details.join('; ')})` : err.message;
    return make(status.RESOURCE_EXHAUSTED, details);
  }
  if (err instanceof FailedPreconditionError) return make(status.FAILED_PRECONDITION, err.message);
  if (err instanceof UnavailableError) return make(status.UNAVAILABLE, err.message);
  return make(status.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
