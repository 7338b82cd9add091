import { status } from '@grpc/grpc-js';
import { CallError } from './client.js';

/** Turns any failure of a command into the one line fjordctl prints on stderr before exiting non-zero. */
export function explain(err: unknown): string {
  if (err instanceof CallError) {
    if (err.code === status.UNAVAILABLE && err.details.startsWith('Name resolution failed')) {
      return `cannot resolve the scheduler's host name ${hostOf(err.server)}; check --server or FJORD_SERVER`;
    }
    if (err.code === status.UNAVAILABLE) {
      return `cannot reach the scheduler at ${err.server} (${lastConnectError(err.details)}); is it running? (npm run scheduler)`;
    }
    if (err.code === status.DEADLINE_EXCEEDED) {
      // Unreachable or only slow: a write may have been applied though its answer never came; say so, lest it be retried blindly.
      const within = err.timeoutMs === undefined ? '' : ` within ${err.timeoutMs / 1000} s`;
      return `no answer from the scheduler at ${err.server}${within} (${err.details}): is it running and reachable? A change asked for may still have been applied; look before retrying it`;
    }
    return `${status[err.code] ?? err.code}: ${err.details}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/**
 * The cause inside grpc-js's text for a channel that could not connect (`No connection
 * established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: `), or the
 * text as it is.
 */
function lastConnectError(details: string): string {
  const cause = /Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details)?.[1];
  return cause ? cause : details;
}

/** The host part of `host:port` (`[v6]:port` too). */
function hostOf(server: string): string {
  return /^\[?(.*?)\]?(?::\d+)?$/.exec(server)?.[1] ?? server;
}
