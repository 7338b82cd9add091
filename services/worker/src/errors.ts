/** Failures of the worker's host commands and drivers (STYLE.md items 8, 14, 17). */

/** Everything a failed command leaves behind, so the caller can decide what to do. */
export interface CommandErrorFields {
  /** The program that ran (without the `ip netns exec` wrapper). */
  cmd: string;
  /** Its arguments, exactly as passed. */
  args: readonly string[];
  /** Exit code, or null when the process was killed by a signal or could not start. */
  exitCode: number | null;
  /** What it wrote to stderr (trimmed). */
  stderr: string;
  /** The network namespace it ran in, if any. */
  netns?: string;
  /** What the caller was trying to do, e.g. `add port veth-a1 to br-hv1`; prefixes the message. */
  what?: string;
  /** The underlying error (spawn failure, timeout), if any. */
  cause?: unknown;
}

/** A host command exited non-zero (or could not run); the one error every driver throws for it. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly cmd: string;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly netns: string | undefined;
  /** Commands are not retried by drivers; the control loop decides (STYLE.md "Avoid"). */
  readonly retryable = false;

  constructor(f: CommandErrorFields) {
    const where = f.netns ? ` (netns ${f.netns})` : '';
    const status = f.exitCode === null ? 'did not exit normally' : `exited ${f.exitCode}`;
    const detail = f.stderr ? `: ${f.stderr}` : '';
    const prefix = f.what ? `${f.what}: ` : '';
    super(`${prefix}${f.cmd}${where} ${status}${detail}`, f.cause === undefined ? undefined : { cause: f.cause });
    this.cmd = f.cmd;
    this.args = f.args;
    this.exitCode = f.exitCode;
    this.stderr = f.stderr;
    this.netns = f.netns;
  }
}

/** A driver was asked for something it cannot do with what it was given (bad name, bad VLAN). */
export class DriverInputError extends Error {
  override readonly name = 'DriverInputError';
  readonly field: string;
  readonly retryable = false;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

/** An OVSDB transaction failed (constraint violation, missing bridge, unreachable database). */
export class OvsdbError extends Error {
  override readonly name = 'OvsdbError';
  /** The database socket, e.g. `unix:/run/openvswitch/db.sock`. */
  readonly db: string;
  /** OVSDB's error code (`constraint violation`, `timed out`) or `io` when the socket failed. */
  readonly error: string;
  readonly retryable: boolean;

  constructor(f: { db: string; error: string; details?: string; what?: string; cause?: unknown }) {
    super(`${f.what ? `${f.what}: ` : ''}ovsdb ${f.db}: ${f.error}${f.details ? `: ${f.details}` : ''}`, f.cause === undefined ? undefined : { cause: f.cause });
    this.db = f.db;
    this.error = f.error;
    // Whether to retry is the control loop's call; this only says whether it could help.
    this.retryable = f.error === 'io' || f.error === 'timed out';
  }
}
