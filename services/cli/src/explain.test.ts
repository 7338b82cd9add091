import { Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { placementV1 } from '@fjord/proto';
import { callUnary, CallError, connect } from './client.js';
import { explain } from './explain.js';

describe('explain', () => {
  it('says an unreachable scheduler may not be running', () => {
    const err = new CallError(status.UNAVAILABLE, 'No connection established', '127.0.0.1:50051', 30_000);
    expect(explain(err)).toBe('cannot reach the scheduler at 127.0.0.1:50051 (No connection established); is it running? (npm run scheduler)');
  });

  it("keeps only the cause of grpc-js's text for a connection that failed", () => {
    const details = 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ';
    expect(explain(new CallError(status.UNAVAILABLE, details, '127.0.0.1:1', 30_000))).toBe(
      'cannot reach the scheduler at 127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); is it running? (npm run scheduler)',
    );
  });

  it('says a host name that does not resolve cannot be resolved, rather than that the scheduler may not be running', () => {
    const err = new CallError(status.UNAVAILABLE, 'Name resolution failed for target dns:no-such-host.invalid:50051', 'no-such-host.invalid:50051', 30_000);
    expect(explain(err)).toBe(
      "cannot resolve the scheduler's host name no-such-host.invalid; check --server or FJORD_SERVER",
    );
  });

  it('says a call that ran out of time found the scheduler unreachable or slow, and that a change may still have been applied', () => {
    const err = new CallError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 30.001s', '10.0.0.5:50051', 30_000);
    expect(explain(err)).toBe(
      'no answer from the scheduler at 10.0.0.5:50051 within 30 s (Deadline exceeded after 30.001s): is it running and reachable? A change asked for may still have been applied; look before retrying it',
    );
  });

  it('prints other statuses by name with their details', () => {
    expect(explain(new CallError(status.NOT_FOUND, 'no container acme/web', '127.0.0.1:50051'))).toBe('NOT_FOUND: no container acme/web');
  });

  describe('of a real call', () => {
    let server: Server | undefined;
    afterEach(() => {
      server?.forceShutdown();
      server = undefined;
    });

    it('gives the deadline callUnary set', async () => {
      // A scheduler that never answers: the call runs into its deadline.
      server = new Server();
      server.addService(placementV1.PlacementServiceService, { getContainer: () => undefined });
      const port = await new Promise<number>((resolve, reject) => {
        server!.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
      });
      const clients = connect(`127.0.0.1:${port}`);
      try {
        const err = await callUnary(clients, clients.placement, clients.placement.getContainer, { tenant: 'acme', name: 'web' }, 250).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CallError);
        expect((err as CallError).code).toBe(status.DEADLINE_EXCEEDED);
        expect(explain(err)).toContain(`no answer from the scheduler at 127.0.0.1:${port} within 0.25 s`);
      } finally {
        clients.close();
      }
    });
  });
});
