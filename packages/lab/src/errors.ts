/** Failures of the lab (STYLE.md item 14). */

/** A command the lab ran exited non-zero or could not start. */
export class LabCommandError extends Error {
  override readonly name = 'LabCommandError';
  readonly retryable = false;

  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    what: string,
  ) {
    super(`${what}: ${cmd} ${exitCode === null ? 'did not exit normally' : `exited ${exitCode}`}${stderr ? `: ${stderr}` : ''}`);
  }
}

/** The lab cannot do what was asked (not root, a tool missing, an unknown host, a bad name). */
export class LabError extends Error {
  override readonly name = 'LabError';
  readonly retryable = false;
}
