import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import {
  AlreadyExistsError,
  ExhaustedError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  type HostState,
  type ScoringPolicy,
} from '@fjord/core';
import type { Subjects } from '@fjord/bus';
import type { ContainerRecord } from '@fjord/store';
import type { Applier } from './applier.js';
import type { ContainerSpecInput } from './spec.js';

/** Every write the scheduler makes on a client's behalf; only the leader's applier performs them. */
export interface Writes {
  place(specs: ContainerSpecInput[], policy: ScoringPolicy): Promise<ContainerRecord[]>;
  deleteContainer(tenant: string, name: string): Promise<void>;
  setHostState(name: string, state: HostState, event: string): Promise<void>;
}

type WriteCall =
  | { op: 'place'; specs: ContainerSpecInput[]; policy: ScoringPolicy }
  | { op: 'delete'; tenant: string; name: string }
  | { op: 'host-state'; name: string; state: HostState; event: string };

/** Errors as they cross between replicas. */
interface WireError {
  name: string;
  message: string;
  field?: string;
  pool?: string;
  details?: readonly string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function toWireError(err: unknown): WireError {
  if (err instanceof InvalidArgumentError || err instanceof NotFoundError || err instanceof AlreadyExistsError) {
    return { name: err.name, message: err.message.slice(err.field.length + 2), field: err.field };
  }
  if (err instanceof ExhaustedError) return { name: err.name, message: err.message, pool: err.pool, details: err.details };
  if (err instanceof FailedPreconditionError) return { name: 'FailedPreconditionError', message: err.message };
  if (err instanceof UnavailableError) return { name: err.name, message: err.message };
  return { name: 'Error', message: err instanceof Error ? err.message : String(err) };
}

function fromWireError(e: WireError): Error {
  switch (e.name) {
    case 'InvalidArgumentError':
      return new InvalidArgumentError(e.field ?? '', e.message);
    case 'NotFoundError':
      return new NotFoundError(e.field ?? '', e.message);
    case 'AlreadyExistsError':
      return new AlreadyExistsError(e.field ?? '', e.message);
    case 'ExhaustedError':
      return new ExhaustedError(e.pool ?? '', e.message, e.details ?? []);
    case 'FailedPreconditionError':
      return new FailedPreconditionError(e.message);
    case 'UnavailableError':
      return new UnavailableError(e.message);
    default:
      return new Error(e.message);
  }
}

function revive(c: ContainerRecord): ContainerRecord {
  return { ...c, createdAt: new Date(c.createdAt), updatedAt: new Date(c.updatedAt) };
}

/**
 * Routes writes to the leader: straight into the local applier when this replica leads, otherwise
 * forwarded over NATS (`<prefix>.v1.leader.write`) to whichever replica does. With no leader (an
 * election in progress) it keeps trying until the deadline, then answers UNAVAILABLE. The
 * payload between replicas is JSON of the domain types: both ends are the same program.
 */
export class WriteRouter implements Writes {
  private local: Applier | undefined;
  private serving: { unsubscribe(): void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly log: Logger,
    private readonly deadlineMs = 15_000,
  ) {}

  /** Called when this replica becomes leader: writes go to `applier`, and forwarded ones are served. */
  lead(applier: Applier): void {
    this.local = applier;
    this.serving = this.nc.subscribe(this.subjects.leader('place'), {
      callback: (err, msg) => {
        if (err) return;
        let call: WriteCall;
        try {
          call = JSON.parse(decoder.decode(msg.data)) as WriteCall;
        } catch {
          this.log.warn({ subject: msg.subject }, 'dropped a malformed forwarded write');
          return;
        }
        this.perform(applier, call).then(
          (result) => msg.respond(encoder.encode(JSON.stringify({ ok: true, result: result ?? null }))),
          (error: unknown) => msg.respond(encoder.encode(JSON.stringify({ ok: false, error: toWireError(error) }))),
        );
      },
    });
  }

  /** Called when this replica stops leading. */
  follow(): void {
    this.local = undefined;
    this.serving?.unsubscribe();
    this.serving = undefined;
  }

  place(specs: ContainerSpecInput[], policy: ScoringPolicy): Promise<ContainerRecord[]> {
    return this.route({ op: 'place', specs, policy }) as Promise<ContainerRecord[]>;
  }

  async deleteContainer(tenant: string, name: string): Promise<void> {
    await this.route({ op: 'delete', tenant, name });
  }

  async setHostState(name: string, state: HostState, event: string): Promise<void> {
    await this.route({ op: 'host-state', name, state, event });
  }

  private perform(applier: Applier, call: WriteCall): Promise<unknown> {
    switch (call.op) {
      case 'place':
        return applier.place(call.specs, call.policy);
      case 'delete':
        return applier.deleteContainer(call.tenant, call.name);
      case 'host-state':
        return applier.setHostState(call.name, call.state, call.event);
    }
  }

  private async route(call: WriteCall): Promise<unknown> {
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const local = this.local;
      try {
        if (local) return await this.perform(local, call);
        return await this.forward(call, Math.max(100, deadline - Date.now()));
      } catch (err) {
        // Only "no leader right now" is retried: the request certainly was not applied.
        const retry = err instanceof UnavailableError && Date.now() < deadline;
        if (!retry) throw err;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
      }
    }
  }

  private async forward(call: WriteCall, timeoutMs: number): Promise<unknown> {
    let reply;
    try {
      reply = await this.nc.request(this.subjects.leader('place'), encoder.encode(JSON.stringify(call)), {
        timeout: timeoutMs,
        headers: natsHeaders(),
      });
    } catch (err) {
      const code = (err as { code?: string; name?: string }).name ?? '';
      if (/NoResponders/i.test(code) || /no responders/i.test(String(err))) {
        throw new UnavailableError('no scheduler leader is elected right now');
      }
      throw new UnavailableError(`forwarding to the scheduler leader failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    const body = JSON.parse(decoder.decode(reply.data)) as { ok: true; result: unknown } | { ok: false; error: WireError };
    if (!body.ok) throw fromWireError(body.error);
    // JSON carried the containers' dates as strings.
    return call.op === 'place' ? (body.result as ContainerRecord[]).map(revive) : body.result;
  }
}
