import { status } from '@grpc/grpc-js';
import { CallError } from './client.js';

/** Turns any failure of a command into the one line fjordctl prints on stderr before exiting non-zero. */
export function explain(err: unknown): string {
  if (err instanceof CallError) {
    if (err.code === status.UNAVAILABLE) {
      return `cannot reach the scheduler at ${err.server} (${err.details}); is it running? (npm run scheduler)`;
    }
    if (err.code === status.DEADLINE_EXCEEDED) {
      // The scheduler may have committed a write and only the answer was late: say so, lest it be retried blindly.
      const within = err.timeoutMs === undefined ? '' : ` within ${err.timeoutMs / 1000} s`;
      return `the scheduler at ${err.server} gave no answer${within} (${err.details}); the request may still have been applied: check with \`fjordctl containers get\` / \`list\` before retrying`;
    }
    return `${status[err.code] ?? err.code}: ${err.details}`;
  }
  return err instanceof Error ? err.message : String(err);
}
