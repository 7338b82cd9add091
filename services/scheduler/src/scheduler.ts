import { hostname } from 'node:os';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ensureStreams, subjects as buildSubjects, type Subjects } from '@fjord/bus';
import { Allocator, type Database, type Lease } from '@fjord/store';
import { Applier } from './applier.js';
import { FleetState } from './fleet-state.js';
import { HostProtocol, serveSync } from './host-protocol.js';
import { LeaderElection, SCHEDULER_LEASE } from './leader.js';
import { OutboxRelay } from './relay.js';
import { startGrpcServer, type RunningGrpcServer } from './server.js';
import { WriteRouter } from './writes.js';

/** What one scheduler replica needs to run. */
export interface SchedulerOptions {
  db: Kysely<Database>;
  /**
   * A small pool of its own for the leader lease, so that renewals never queue behind the
   * applier's work (default: `db`).
   */
  leaseDb?: Kysely<Database>;
  log: Logger;
  grpcListen: string;
  natsUrl: string;
  subjectPrefix: string;
  /** Unique per replica; the lease records it. */
  replicaId?: string;
  leaseTtlMs: number;
  leaseRenewMs: number;
  heartbeatIntervalMs: number;
  /** Placement skips a host not heard from (heartbeat, report, registration) for this long. */
  hostStaleAfterMs: number;
}

/** Leader-only machinery, alive while this replica holds the lease. */
interface LeaderDuties {
  applier: Applier;
  relay: OutboxRelay;
  hosts: HostProtocol;
}

/**
 * One scheduler replica: serves gRPC and sync requests always, and campaigns for the leader
 * lease; while it leads it runs the applier, the outbox relay and the host protocol.
 */
export class Scheduler {
  private duties: LeaderDuties | undefined;
  private sync: Subscription | undefined;

  private constructor(
    private readonly options: SchedulerOptions,
    readonly nc: NatsConnection,
    readonly subjects: Subjects,
    readonly writes: WriteRouter,
    readonly grpc: RunningGrpcServer,
    readonly election: LeaderElection,
  ) {}

  /** The port gRPC listens on. */
  get port(): number {
    return this.grpc.port;
  }

  /** True while this replica leads. */
  get isLeader(): boolean {
    return this.duties !== undefined && this.election.current !== undefined;
  }

  /** Connects to NATS, starts serving and campaigning. */
  static async start(options: SchedulerOptions): Promise<Scheduler> {
    const { db, log } = options;
    // noAsyncTraces: every request (forwarded writes, the streams' setup) would otherwise build an
    // Error for its stack up front. The relay's publishes do not go through requests any more
    // (StreamPublisher); when they did, that Error was 7 % of the leader's CPU under load.
    const nc = await connect({ servers: options.natsUrl, name: `fjord-scheduler-${options.replicaId ?? ''}`, maxReconnectAttempts: -1, noAsyncTraces: true });
    const subjects = buildSubjects(options.subjectPrefix);
    await ensureStreams(nc, subjects);
    const writes = new WriteRouter(nc, subjects, log);
    const grpc = await startGrpcServer(options.grpcListen, { allocator: new Allocator(db), log, placement: { db, writes, nc, subjects } });
    // The election calls back into the scheduler it is part of; `self` closes that loop.
    const self: { scheduler?: Scheduler } = {};
    const election = new LeaderElection(
      options.leaseDb ?? db,
      { holder: options.replicaId ?? `${hostname()}-${process.pid}`, ttlMs: options.leaseTtlMs, renewMs: options.leaseRenewMs },
      {
        elected: (lease) => self.scheduler!.lead(lease),
        deposed: () => self.scheduler!.follow(),
      },
      log,
    );
    const scheduler = new Scheduler(options, nc, subjects, writes, grpc, election);
    self.scheduler = scheduler;
    scheduler.sync = serveSync(nc, db, subjects, log);
    election.start();
    return scheduler;
  }

  private async lead(lease: Lease): Promise<void> {
    const { db, log } = this.options;
    const state = await FleetState.load(db, this.options.hostStaleAfterMs);
    const fence = { name: SCHEDULER_LEASE, lease };
    const relay = new OutboxRelay(db, this.nc, this.subjects, log, fence);
    const relinquish = (reason: string) => this.election.relinquish(reason);
    const applier = new Applier(db, lease, state, () => relay.kick(), log, relinquish);
    const hosts = new HostProtocol(
      this.nc,
      db,
      this.subjects,
      applier,
      state,
      { heartbeatIntervalMs: this.options.heartbeatIntervalMs, flushMs: 100, fence, relinquish },
      log,
    );
    relay.start();
    hosts.start();
    this.writes.lead(applier);
    this.duties = { applier, relay, hosts };
    log.info({ epoch: lease.epoch, hosts: state.snapshot.hosts.length }, 'leading: applier, relay and host protocol running');
  }

  private async follow(): Promise<void> {
    const duties = this.duties;
    this.duties = undefined;
    this.writes.follow();
    if (!duties) return;
    await duties.hosts.stop();
    await duties.applier.stop();
    await duties.relay.stop();
  }

  /** Stops everything this replica runs; a held lease is handed back. */
  async stop(): Promise<void> {
    await this.grpc.close();
    await this.election.stop();
    this.sync?.unsubscribe();
    await this.nc.drain().catch(() => undefined);
  }
}
