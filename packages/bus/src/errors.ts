/** A subject token that would break the subject layout (empty, or with `.`, `*`, `>` or whitespace). */
export class InvalidSubjectTokenError extends Error {
  override readonly name = 'InvalidSubjectTokenError';
  constructor(
    readonly role: string,
    readonly token: string,
  ) {
    super(`invalid ${role} in subject: "${token}" (allowed: letters, digits, '-' and '_')`);
  }
}

/** A message that did not decode as the protobuf type its subject promises. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
  constructor(
    readonly subject: string,
    readonly type: string,
    options?: { cause?: unknown },
  ) {
    super(`malformed ${type} on ${subject}`, options);
  }
}
