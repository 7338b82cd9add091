/**
 * The kinds of failure every layer agrees on. Each maps to exactly one gRPC status code at the
 * server edge (services/scheduler/src/grpc/status.ts); messages are lowercase and say what failed
 * and with what (STYLE.md items 14-17).
 */

/** Base of every expected Fjord failure. `retryable` tells a caller whether trying again can help. */
export abstract class FjordError extends Error {
  abstract readonly retryable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The caller sent something malformed; `field` names the offending request field. */
export class InvalidArgumentError extends FjordError {
  override readonly name: string = 'InvalidArgumentError';
  readonly retryable = false;
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** A named thing does not exist; `field` names the request field that referred to it. */
export class NotFoundError extends FjordError {
  override readonly name: string = 'NotFoundError';
  readonly retryable = false;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Something with that key already exists (a network name, a requested VLAN or address). */
export class AlreadyExistsError extends FjordError {
  override readonly name: string = 'AlreadyExistsError';
  readonly retryable = false;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A pool has nothing left to hand out; `pool` names it (e.g. `vlan range of physnet1`). */
export class ExhaustedError extends FjordError {
  override readonly name: string = 'ExhaustedError';
  readonly retryable = false;
  constructor(
    readonly pool: string,
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The system is not in a state that allows the operation (e.g. deleting a network in use, a fenced writer). */
export class FailedPreconditionError extends FjordError {
  override readonly name: string = 'FailedPreconditionError';
  readonly retryable = false;
  constructor(message: string) {
    super(message);
  }
}

/** A transient failure (lost race, lost connection); the same request may succeed later. */
export class UnavailableError extends FjordError {
  override readonly name: string = 'UnavailableError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
