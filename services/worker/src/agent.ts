/**
 * The worker agent: the control loop of one host (DESIGN.md principles 2, 5 and 6).
 *
 * - Registers the host (request/reply on `register`), retrying with capped backoff until the
 *   scheduler answers, and gets an epoch (fencing token) and a heartbeat interval.
 * - Heartbeats (core NATS publish) with its epoch and applied generation.
 * - Hears its desired state on `desired` (a core subscription; the scheduler publishes through
 *   JetStream) and asks for it with a `sync` request after each registration, after each NATS
 *   reconnect and periodically. A state with a generation not above the newest seen is ignored;
 *   one from a newer epoch means this incarnation was fenced, so the agent registers again; one
 *   from an older epoch is ignored, except as the answer to a sync: then the scheduler has
 *   forgotten this registration, and the agent registers again. Once it has applied a state, a
 *   sync may be answered `unchanged` (no containers): the host is still at the generation applied.
 * - A published state may be a delta: the changes after a base generation. The agent applies it
 *   on top of the newest state it has when that is at least the base; otherwise it missed a
 *   change and syncs (a sync reply is always whole). Every {@link CHECK_EVERY}th periodic sync
 *   asks for the whole state even when up to date, and takes it should it differ from the state
 *   of that generation the agent holds: nothing else would ever correct such a difference.
 * - Reconciles in one serialized loop: while a pass runs, newer desired states replace each other
 *   and only the newest is applied next. After each pass it publishes a status report with the
 *   containers whose state or message changed since the last report. After registering, after a
 *   reconnect and every `wholeStatusMs` it reports every container (a report is a core NATS
 *   message and may be lost, or land while no scheduler leads: the next whole one makes up for it).
 *
 * This file is the protobuf edge: messages are decoded here and become domain types. A malformed
 * or unexpected message is logged and dropped. stop() leaves containers and ports as they are.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { decode, encode, HostVerb, type Subjects } from '@fjord/bus';
import { containerFingerprint, type DesiredContainer } from '@fjord/core';
import { workerV1 } from '@fjord/proto';
import type { ContainerRuntime, SwitchDriver } from './drivers/types.js';
import { Reconciler, type ContainerReport } from './reconcile.js';

/** The agent's version, sent at registration. */
export const AGENT_VERSION = '0.1.0';

/** What a host offers and where it is, as registered. */
export interface HostConfig {
  /** Host id, used in subjects: letters, digits, `-`, `_`. */
  name: string;
  labels: Record<string, string>;
  cpuMillis: number;
  memoryBytes: number;
  slots: number;
  physicalNetworks: string[];
}

/** Timing of the control loop; every field has a default. */
export interface AgentTiming {
  /** Heartbeat interval; overrides the scheduler's (default: the register reply's, else 1000 ms). */
  heartbeatMs?: number;
  /** Timeout of register and sync requests (default 2000 ms). */
  requestTimeoutMs?: number;
  /** First retry delay of register and sync (default 200 ms), doubled up to `retryMaxMs`. */
  retryMinMs?: number;
  /** Longest retry delay (default 5000 ms). */
  retryMaxMs?: number;
  /** Safety-net sync interval, 0 for none (default 30000 ms; ±10% jitter). */
  syncIntervalMs?: number;
  /** Re-run reconcile over the last applied desired state this often, 0 for none (default 30000 ms). */
  reconcileIntervalMs?: number;
  /** Report every container's state this often, not only changes; 0 for never (default 30000 ms; ±10% jitter). */
  wholeStatusMs?: number;
  /** Wait this long before the first registration (the simulator staggers hosts with it; default 0). */
  startDelayMs?: number;
}

/** Notifications for whoever runs the agent (the simulator counts with them). */
export interface AgentHooks {
  /** The agent registered and got `epoch`. */
  onRegistered?(epoch: bigint): void;
  /** A reconcile pass over `generation` finished; `running` containers run now. */
  onApplied?(generation: bigint, reports: readonly ContainerReport[]): void;
}

/** Everything an {@link Agent} needs. */
export interface AgentOptions {
  nc: NatsConnection;
  subjects: Subjects;
  host: HostConfig;
  drivers: { switch: SwitchDriver; runtime: ContainerRuntime };
  log: Logger;
  timing?: AgentTiming;
  hooks?: AgentHooks;
  /**
   * Calls `beat` every `ms` until the returned function is called (default: a timer of the
   * agent's own, started at a random offset). The simulator passes one timer shared by all its
   * hosts, so that beats due together go out in one socket write.
   */
  repeatHeartbeat?: (ms: number, beat: () => void) => () => void;
  /**
   * When true the agent neither subscribes to its desired subject nor watches the connection's
   * status: the owner routes messages to {@link Agent.handleDesired} and calls
   * {@link Agent.reconnected} (the simulator does, with one subscription for thousands of hosts).
   */
  external?: boolean;
}

/** A whole desired state of one host, in domain form. */
export interface HostDesiredState {
  host: string;
  epoch: bigint;
  generation: bigint;
  containers: DesiredContainer[];
}

/** The changes to a host's desired state after `baseGeneration`: `containers` added or changed, `removed` by runtime name. */
export interface HostDesiredDelta extends HostDesiredState {
  baseGeneration: bigint;
  removed: string[];
}

/** Counters of one agent. */
export interface AgentStats {
  registered: boolean;
  epoch: bigint | undefined;
  appliedGeneration: bigint;
  desiredApplied: number;
  containersRunning: number;
  dropped: number;
  /** Deltas whose base generation this agent had not reached: each one was answered with a sync. */
  gaps: number;
}

const DEFAULTS = {
  requestTimeoutMs: 2000,
  retryMinMs: 200,
  retryMaxMs: 5000,
  syncIntervalMs: 30_000,
  reconcileIntervalMs: 30_000,
  wholeStatusMs: 30_000,
  startDelayMs: 0,
};

/** Converts a protobuf DesiredState to the domain's form: a whole state or a delta. */
export function desiredFromWire(m: workerV1.DesiredState): HostDesiredState | HostDesiredDelta {
  const containers = m.containers.map((c) => ({
    runtimeName: c.runtimeName,
    tenant: c.tenant,
    name: c.name,
    template: c.template,
    vlan: c.vlan,
    address: c.address,
    prefixLength: c.prefixLength,
    gateway: c.gateway,
    cpuMillis: c.cpuMillis,
    memoryBytes: Number(c.memoryBytes),
    command: c.command,
  }));
  if (!m.delta) return { host: m.host, epoch: m.epoch, generation: m.generation, containers };
  return { host: m.host, epoch: m.epoch, generation: m.generation, containers, baseGeneration: m.baseGeneration, removed: m.removed };
}

/** The whole state `delta` leads to from `base` (any state at or after the delta's base generation). */
export function applyDelta(base: HostDesiredState, delta: HostDesiredDelta): HostDesiredState {
  const replaced = new Set(delta.removed);
  for (const c of delta.containers) replaced.add(c.runtimeName);
  return {
    host: delta.host,
    epoch: delta.epoch,
    generation: delta.generation,
    containers: base.containers.filter((c) => !replaced.has(c.runtimeName)).concat(delta.containers),
  };
}

/** The default of {@link AgentOptions.repeatHeartbeat}. */
function repeatFromRandomOffset(ms: number, beat: () => void): () => void {
  let interval: ReturnType<typeof setInterval> | undefined;
  const first = setTimeout(() => {
    beat();
    interval = setInterval(beat, ms);
  }, Math.random() * ms);
  return () => {
    clearTimeout(first);
    clearInterval(interval);
  };
}

/** Every this many periodic syncs, one asks for the whole state (see the file comment). */
const CHECK_EVERY = 10;

/** Whether two desired container lists hold the same containers, in any order, as reconcile tells them apart. */
function sameContainers(a: readonly DesiredContainer[], b: readonly DesiredContainer[]): boolean {
  const key = (c: DesiredContainer) => `${c.runtimeName} ${containerFingerprint(c)}`;
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(key));
  return b.every((c) => keys.has(key(c)));
}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The control loop of one host; see the file comment for the protocol. */
export class Agent {
  readonly host: HostConfig;
  private readonly nc: NatsConnection;
  private readonly s: Subjects;
  private readonly log: Logger;
  private readonly reconciler: Reconciler;
  private readonly timing: Required<Omit<AgentTiming, 'heartbeatMs'>> & { heartbeatMs: number | undefined };
  private readonly hooks: AgentHooks;
  private readonly external: boolean;
  private readonly subjectOf: Record<'register' | 'heartbeat' | 'desired' | 'sync' | 'status', string>;

  private started = false;
  private stopped = false;
  private sub: Subscription | undefined;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private reconciledOnce = false;
  private readonly repeatHeartbeat: (ms: number, beat: () => void) => () => void;
  private stopHeartbeat: (() => void) | undefined;
  private heartbeatBytes: Uint8Array | undefined;
  private heartbeatMs = 1000;

  private epoch: bigint | undefined;
  private registering = false;
  private syncing = false;
  /** The reason of a sync asked for while one was in flight; sent when that one is done. */
  private syncAgain: string | undefined;
  private syncRetry: ReturnType<typeof setTimeout> | undefined;

  /** The state of the highest generation applied, being applied or pending in this epoch. */
  private newest: HostDesiredState | undefined;
  private pending: HostDesiredState | undefined;
  private applied: HostDesiredState | undefined;
  private appliedGeneration = 0n;
  private reconciling = false;
  private idle: Promise<void> = Promise.resolve();

  /** What the status reports so far said of each container (state and message), by runtime name. */
  private reported = new Map<string, string>();
  /** The reports of the last pass (over {@link applied}), which {@link reportAll} sends again. */
  private lastReports: readonly ContainerReport[] = [];
  /** The next status report lists every container. */
  private reportWhole = true;

  private desiredApplied = 0;
  private containersRunning = 0;
  private dropped = 0;
  private gaps = 0;
  private periodicSyncs = 0;
  /** Sync answers in a row that did not know this agent's registration (see {@link forgotten}). */
  private forgottenInARow = 0;

  constructor(opts: AgentOptions) {
    this.nc = opts.nc;
    this.s = opts.subjects;
    this.host = opts.host;
    this.log = opts.log;
    this.hooks = opts.hooks ?? {};
    this.external = opts.external ?? false;
    this.repeatHeartbeat = opts.repeatHeartbeat ?? repeatFromRandomOffset;
    const given = Object.fromEntries(Object.entries(opts.timing ?? {}).filter(([, v]) => v !== undefined));
    this.timing = { ...DEFAULTS, ...given, heartbeatMs: opts.timing?.heartbeatMs };
    this.reconciler = new Reconciler({ switch: opts.drivers.switch, runtime: opts.drivers.runtime, log: opts.log });
    const h = opts.host.name;
    this.subjectOf = {
      register: this.s.host(h, HostVerb.Register),
      heartbeat: this.s.host(h, HostVerb.Heartbeat),
      desired: this.s.host(h, HostVerb.Desired),
      sync: this.s.host(h, HostVerb.Sync),
      status: this.s.host(h, HostVerb.Status),
    };
  }

  /** Subscribes, then registers (after `startDelayMs`) and keeps the loop running until stop(). */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (!this.external) {
      this.sub = this.nc.subscribe(this.subjectOf.desired, {
        callback: (err, msg) => {
          if (err) this.log.warn({ err }, `desired subscription of ${this.host.name} failed`);
          else this.handleDesired(msg.subject, msg.data);
        },
      });
      void this.watchStatus();
    }
    this.later(this.timing.startDelayMs, () => void this.register());
    if (this.timing.syncIntervalMs > 0) this.every(this.timing.syncIntervalMs, () => this.sync(++this.periodicSyncs % CHECK_EVERY === 0 ? 'check' : 'periodic'));
    if (this.timing.reconcileIntervalMs > 0) this.every(this.timing.reconcileIntervalMs, () => this.reapply());
    if (this.timing.wholeStatusMs > 0) this.every(this.timing.wholeStatusMs, () => this.reportAll());
  }

  /** Stops timers and the subscription and waits for a running reconcile pass; containers stay. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.syncRetry) clearTimeout(this.syncRetry);
    this.stopHeartbeat?.();
    this.pending = undefined;
    if (this.sub && !this.sub.isClosed()) this.sub.unsubscribe();
    await this.idle;
  }

  /** This agent's counters. */
  stats(): AgentStats {
    return {
      registered: this.epoch !== undefined,
      epoch: this.epoch,
      appliedGeneration: this.appliedGeneration,
      desiredApplied: this.desiredApplied,
      containersRunning: this.containersRunning,
      dropped: this.dropped,
      gaps: this.gaps,
    };
  }

  /** Resolves once no reconcile pass runs or is pending (tests wait on it). */
  settled(): Promise<void> {
    return this.idle;
  }

  /** Handles one message from the desired subject: decode, check host/epoch/generation, queue it. */
  handleDesired(subject: string, data: Uint8Array): void {
    let message: workerV1.DesiredState;
    try {
      message = decode(workerV1.DesiredState, 'DesiredState', subject, data);
    } catch (err) {
      this.drop({ err, subject }, `dropped malformed desired state for ${this.host.name}`);
      return;
    }
    if (message.unchanged) {
      // Only a sync reply may say `unchanged`; taken as a state here, its empty list would remove everything.
      this.drop({ subject }, `dropped an 'unchanged' desired state for ${this.host.name}: only a sync reply may say that`);
      return;
    }
    this.offer(desiredFromWire(message), 'desired');
  }

  /** Tells the agent its NATS connection came back: it syncs (the owner calls this when `external`). */
  reconnected(): void {
    this.reportWhole = true;
    this.log.info(`${this.host.name} reconnected to nats; syncing desired state`);
    this.sync('reconnect');
  }

  private drop(fields: object, text: string): void {
    this.dropped++;
    this.log.warn(fields, text);
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  /**
   * Runs `fn` every `ms` (±10% jitter), the first time at a random point within the first `ms`:
   * thousands of hosts started together (a fleet after an outage, the simulator) must not tick
   * together. With ±10% alone, 5,000 simulated hosts sent their periodic reports in a 12 s wave.
   */
  private every(ms: number, fn: () => void): void {
    const tick = () => {
      fn();
      this.later(ms * (0.9 + Math.random() * 0.2), tick);
    };
    this.later(Math.random() * ms, tick);
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.timing.retryMaxMs, this.timing.retryMinMs * 2 ** Math.min(attempt, 20));
    return base * (0.8 + Math.random() * 0.4);
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const st of this.nc.status()) {
        if (this.stopped) break;
        if (st.type === 'reconnect') this.reconnected();
        else if (st.type === 'disconnect') this.log.warn(`${this.host.name} disconnected from nats`);
      }
    } catch (err) {
      this.log.warn({ err }, `status watch of ${this.host.name} ended`);
    }
  }

  private async register(): Promise<void> {
    if (this.registering || this.stopped) return;
    this.registering = true;
    const request = encode(workerV1.RegisterHostRequest, {
      host: this.host.name,
      labels: this.host.labels,
      cpuMillis: this.host.cpuMillis,
      memoryBytes: BigInt(this.host.memoryBytes),
      slots: this.host.slots,
      physicalNetworks: this.host.physicalNetworks,
      agentVersion: AGENT_VERSION,
      acceptsDeltas: true,
    });
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        let reply: workerV1.RegisterHostReply;
        try {
          const msg = await this.nc.request(this.subjectOf.register, request, { timeout: this.timing.requestTimeoutMs });
          reply = decode(workerV1.RegisterHostReply, 'RegisterHostReply', this.subjectOf.register, msg.data);
        } catch (err) {
          this.retryLog(attempt).call(this.log, { err: errText(err), attempt }, `register ${this.host.name}: no answer; retrying`);
          await this.sleep(this.backoff(attempt));
          continue;
        }
        if (this.stopped) return;
        if (reply.error) {
          (attempt === 0 ? this.log.warn : this.retryLog(attempt)).call(this.log, { attempt }, `register ${this.host.name}: refused: ${reply.error}`);
          await this.sleep(this.backoff(attempt + 3));
          continue;
        }
        this.registered(reply);
        return;
      }
    } finally {
      this.registering = false;
    }
  }

  /** Warn on the 4th failed attempt and then about once a minute; debug otherwise (thousands of simulated hosts retry together). */
  private retryLog(attempt: number): Logger['warn'] {
    return attempt === 3 || (attempt > 3 && attempt % 12 === 3) ? this.log.warn : this.log.debug;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private registered(reply: workerV1.RegisterHostReply): void {
    this.reportWhole = true;
    if (this.epoch !== reply.epoch) {
      // A new incarnation: generations restart from what the scheduler sends for this epoch.
      this.newest = undefined;
      this.pending = undefined;
    }
    this.epoch = reply.epoch;
    this.heartbeatMs = this.timing.heartbeatMs ?? (reply.heartbeatIntervalMs > 0 ? reply.heartbeatIntervalMs : 1000);
    this.log.info({ epoch: String(reply.epoch), heartbeatMs: this.heartbeatMs }, `registered ${this.host.name}`);
    this.startHeartbeat();
    this.hooks.onRegistered?.(reply.epoch);
    this.sync('register');
  }

  private startHeartbeat(): void {
    this.stopHeartbeat?.();
    this.heartbeatBytes = undefined;
    const beat = () => {
      if (this.epoch === undefined || this.stopped) return;
      this.heartbeatBytes ??= encode(workerV1.Heartbeat, { host: this.host.name, epoch: this.epoch, appliedGeneration: this.appliedGeneration });
      try {
        this.nc.publish(this.subjectOf.heartbeat, this.heartbeatBytes);
      } catch (err) {
        this.log.debug({ err: errText(err) }, `heartbeat of ${this.host.name} not sent`);
      }
    };
    beat();
    this.stopHeartbeat = this.repeatHeartbeat(this.heartbeatMs, beat);
  }

  private reregister(reason: string, delayMs = 0): void {
    this.log.warn(`${this.host.name} ${reason}; registering again${delayMs > 0 ? ` in ${Math.round(delayMs)} ms` : ''}`);
    this.epoch = undefined;
    this.stopHeartbeat?.();
    this.stopHeartbeat = undefined;
    if (delayMs > 0) this.later(delayMs, () => void this.register());
    else void this.register();
  }

  /**
   * Asks for the desired state (or, once one is applied, whether it is still the one applied);
   * retries with backoff until answered (or a newer sync starts).
   */
  private sync(reason: string, attempt = 0): void {
    if (this.stopped || this.epoch === undefined) return;
    if (this.syncing) {
      // A check (the one sync that refuses `unchanged`) must not become a plain one by waiting.
      if (this.syncAgain !== 'check') this.syncAgain = reason;
      return;
    }
    if (this.syncRetry) {
      clearTimeout(this.syncRetry);
      this.syncRetry = undefined;
    }
    this.syncing = true;
    // Once this incarnation has a state, an up-to-date host is answered `unchanged`, without its
    // containers, except to a check. Not before: after registering again, the generation applied
    // is the old incarnation's, which matches the new one's only where the database forgot it.
    const acceptsUnchanged = this.applied !== undefined && this.newest !== undefined && reason !== 'check';
    const epoch = this.epoch;
    const request = encode(workerV1.SyncRequest, { host: this.host.name, epoch, haveGeneration: this.appliedGeneration, acceptsUnchanged });
    void this.nc
      .request(this.subjectOf.sync, request, { timeout: this.timing.requestTimeoutMs })
      .then(
        (msg) => {
          this.syncing = false;
          let reply: workerV1.DesiredState;
          try {
            reply = decode(workerV1.DesiredState, 'DesiredState', this.subjectOf.sync, msg.data);
          } catch (err) {
            this.drop({ err }, `dropped malformed sync reply for ${this.host.name}`);
            return;
          }
          if (reply.epoch === epoch) this.forgottenInARow = 0;
          if (reply.unchanged) this.confirmUnchanged(reply);
          else if (this.forgotten(reply, epoch)) {
            // After a backoff: a scheduler that keeps forgetting must not be asked in a tight loop.
            const delay = this.backoff(this.forgottenInARow++);
            this.reregister(`is unknown to the scheduler at epoch ${epoch} (its sync was answered for epoch ${reply.epoch})`, delay);
          } else this.offer(desiredFromWire(reply), 'sync');
        },
        (err: unknown) => {
          this.syncing = false;
          if (this.stopped) return;
          // A sync queued meanwhile goes out instead of this one's retry (below): keep it a check.
          if (reason === 'check' && this.syncAgain !== undefined) this.syncAgain = 'check';
          this.retryLog(attempt).call(this.log, { err: errText(err), reason, attempt }, `sync ${this.host.name}: no answer; retrying`);
          this.syncRetry = setTimeout(() => {
            this.syncRetry = undefined;
            this.sync(reason, attempt + 1);
          }, this.backoff(attempt));
        },
      )
      .finally(() => {
        const again = this.syncAgain;
        if (again !== undefined && !this.syncing) {
          this.syncAgain = undefined;
          this.sync(again);
        }
      });
  }

  /**
   * Whether a sync reply says the scheduler has no registration of this host at the epoch the
   * sync was sent with, which this agent still holds: a registration's epoch only rises, so an
   * older one (0 for a host it has no row of) means its database forgot the registration (a
   * restore). Heartbeats of an epoch it does not know are dropped without an answer, so this is
   * how the agent learns to register again. A reply to a sync of an epoch since replaced is
   * ignored, so that two answers crossing a registration cannot start another.
   */
  private forgotten(reply: workerV1.DesiredState, askedWith: bigint): boolean {
    return reply.host === this.host.name && reply.epoch < askedWith && this.epoch === askedWith;
  }

  /**
   * A sync reply saying the host is still at the generation this agent reported applied: nothing
   * to do. One for another host, epoch or generation than this agent's is dropped (the next sync
   * or desired state brings what is right).
   */
  private confirmUnchanged(reply: workerV1.DesiredState): void {
    if (reply.host !== this.host.name || reply.epoch !== this.epoch || reply.generation !== this.appliedGeneration) {
      this.drop(
        { host: reply.host, epoch: String(reply.epoch), generation: String(reply.generation) },
        `dropped an 'unchanged' sync reply that does not match ${this.host.name}'s applied generation ${this.appliedGeneration}`,
      );
      return;
    }
    this.log.debug({ generation: String(reply.generation) }, `${this.host.name} is up to date`);
  }

  /**
   * Applies the fencing and generation rules, then queues `update` (applied to the newest state
   * when it is a delta) for the reconcile loop.
   */
  private offer(update: HostDesiredState | HostDesiredDelta, via: 'desired' | 'sync'): void {
    if (this.stopped) return;
    if (update.host !== this.host.name) {
      this.drop({ via, host: update.host }, `dropped desired state for ${update.host} sent to ${this.host.name}`);
      return;
    }
    if (this.epoch === undefined) {
      this.log.debug({ via }, `${this.host.name} is not registered; ignoring desired state (a sync follows registration)`);
      return;
    }
    if (update.epoch > this.epoch) {
      this.reregister(`was fenced: desired state has epoch ${update.epoch}, this agent ${this.epoch}`);
      return;
    }
    if (update.epoch < this.epoch) {
      this.log.debug({ via, epoch: String(update.epoch) }, `${this.host.name} ignored desired state of an old epoch`);
      return;
    }
    if (this.newest !== undefined && update.generation <= this.newest.generation) {
      const differs = via === 'sync' && !('baseGeneration' in update) && update.generation === this.newest.generation && !sameContainers(update.containers, this.newest.containers);
      if (!differs) {
        this.log.debug({ via, generation: String(update.generation), newest: String(this.newest.generation) }, `${this.host.name} ignored stale desired state`);
        return;
      }
      this.log.warn({ generation: String(update.generation) }, `${this.host.name} held another desired state than the scheduler's at generation ${update.generation}; taking the scheduler's`);
    }
    let state = update;
    if ('baseGeneration' in update) {
      if (this.newest === undefined) {
        // Registered, not yet synced. The sync that follows registration brings the whole state,
        // but it may have been answered before this change: ask once more after it.
        this.log.debug({ via, generation: String(update.generation) }, `${this.host.name} ignored a delta before its first whole state; syncing after it`);
        this.sync('early delta');
        return;
      }
      if (this.newest.generation < update.baseGeneration) {
        this.gaps++;
        this.log.info(
          { via, base: String(update.baseGeneration), have: String(this.newest.generation) },
          `${this.host.name} missed a desired state before generation ${update.generation}; syncing`,
        );
        this.sync('gap');
        return;
      }
      state = applyDelta(this.newest, update);
    }
    this.newest = state;
    this.pending = state;
    this.kick();
  }

  /** Re-runs reconcile over the last applied state (containers may have died since). */
  private reapply(): void {
    if (this.applied && !this.pending && !this.reconciling) {
      this.pending = this.applied;
      this.kick();
    }
  }

  private kick(): void {
    if (this.reconciling || this.stopped) return;
    this.reconciling = true;
    this.idle = this.drain().finally(() => {
      this.reconciling = false;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopped) {
      const state = this.pending;
      this.pending = undefined;
      let reports: ContainerReport[];
      let running: number;
      try {
        const result = await this.reconciler.reconcile(state.containers);
        reports = result.containers;
        // Say what changed; a pass that found everything right is news only as the first one.
        running = reports.filter((r) => r.state === 'RUNNING').length;
        const level = result.actions > 0 || result.errors.length > 0 || !this.reconciledOnce ? 'info' : 'debug';
        this.log[level](
          { generation: String(state.generation), actions: result.actions, errors: result.errors.length },
          `${this.host.name} reconciled: ${result.actions} actions, ${running}/${reports.length} running`,
        );
        this.reconciledOnce = true;
      } catch (err) {
        // reconcile() never throws by contract; a bug here must not kill the loop either.
        this.log.error({ err }, `reconcile of ${this.host.name} failed`);
        continue;
      }
      if (this.epoch !== state.epoch) continue;
      if (this.applied !== state) this.desiredApplied++;
      this.applied = state;
      if (this.appliedGeneration !== state.generation) {
        this.appliedGeneration = state.generation;
        this.heartbeatBytes = undefined;
      }
      this.containersRunning = running;
      this.lastReports = reports;
      this.publishStatus(state, reports);
      this.hooks.onApplied?.(state.generation, reports);
    }
  }

  /** Reports every container: now, from the last pass, unless a pass is due to report soon anyway. */
  private reportAll(): void {
    this.reportWhole = true;
    if (this.applied && !this.reconciling && this.applied.epoch === this.epoch) this.publishStatus(this.applied, this.lastReports);
  }

  /** Reports the pass over `state`: every container when {@link reportWhole}, else those whose report changed. */
  private publishStatus(state: HostDesiredState, reports: readonly ContainerReport[]): void {
    const said = new Map<string, string>();
    const listed: workerV1.ObservedContainer[] = [];
    for (const r of reports) {
      const report = `${r.state}\n${r.message}`;
      said.set(r.runtimeName, report);
      if (this.reportWhole || this.reported.get(r.runtimeName) !== report) listed.push({ runtimeName: r.runtimeName, state: r.state, message: r.message });
    }
    try {
      this.nc.publish(
        this.subjectOf.status,
        encode(workerV1.StatusReport, { host: this.host.name, epoch: state.epoch, appliedGeneration: state.generation, containers: listed }),
      );
      this.reported = said;
      this.reportWhole = false;
    } catch (err) {
      this.log.warn({ err: errText(err) }, `status of ${this.host.name} not sent`);
    }
  }
}
