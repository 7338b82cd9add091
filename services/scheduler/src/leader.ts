import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { acquireOrRenewLease, releaseLease, type Database, type Lease } from '@fjord/store';

/** The name of the scheduler's lease row. */
export const SCHEDULER_LEASE = 'scheduler';

/** Timing of the lease: held for `ttlMs`, renewed (or tried for) every `renewMs`. */
export interface LeaderOptions {
  holder: string;
  ttlMs: number;
  renewMs: number;
}

/** What a replica does when it gains or loses the lease. */
export interface LeaderCallbacks {
  elected(lease: Lease): Promise<void>;
  deposed(lease: Lease): Promise<void>;
}

/**
 * Keeps trying to hold the leader lease. The holder renews it every `renewMs`; if a renewal fails
 * or cannot reach the database before the lease would expire, it steps down at once (it must
 * assume another replica takes over after `ttlMs`). Every write the leader makes is also fenced in
 * its transaction (`checkLease`), so a leader that has not yet noticed cannot commit.
 */
export class LeaderElection {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private validUntil = 0;
  private stopped = false;
  private transition: Promise<void> = Promise.resolve();
  /** The campaign round in progress, if any: `stop` waits for it. */
  private ticking: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly options: LeaderOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
  ) {}

  /** The lease while this replica leads. */
  get current(): Lease | undefined {
    return this.lease && performance.now() < this.validUntil ? this.lease : undefined;
  }

  /** Starts campaigning. */
  start(): void {
    this.campaign();
  }

  private campaign(): void {
    this.ticking = this.tick();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const started = performance.now();
    try {
      const lease = await acquireOrRenewLease(this.db, SCHEDULER_LEASE, this.options.holder, this.options.ttlMs);
      if (this.stopped && !this.lease) {
        // Stopped while this round was acquiring: give back what it won rather than lead.
        if (lease) await releaseLease(this.db, SCHEDULER_LEASE, lease).catch(() => undefined);
        return;
      }
      if (lease && (!this.lease || lease.epoch === this.lease.epoch)) {
        // Count validity from before the round trip: the database's expiry is at least that late.
        this.validUntil = started + this.options.ttlMs - this.options.renewMs;
        if (!this.lease) this.becomeLeader(lease);
      } else if (this.lease) {
        this.stepDown('lease taken by another replica');
      }
    } catch (err) {
      this.log.warn({ err }, 'leader lease: database unreachable');
      if (this.lease && performance.now() >= this.validUntil) this.stepDown('lease could not be renewed in time');
    }
    if (this.lease && performance.now() >= this.validUntil) this.stepDown('lease renewal too late');
    if (!this.stopped) this.timer = setTimeout(() => this.campaign(), this.options.renewMs);
  }

  private becomeLeader(lease: Lease): void {
    this.lease = lease;
    this.log.info({ epoch: lease.epoch }, 'elected leader');
    this.transition = this.transition.then(() => this.callbacks.elected(lease)).catch((err: unknown) => {
      this.log.error({ err }, 'starting leader duties failed; stepping down');
      this.stepDown('leader duties failed to start');
    });
  }

  /** Hands over leader duties; a step down the replica did not choose (`warn`) is logged as such. */
  private stepDown(reason: string, level: 'info' | 'warn' = 'warn'): void {
    const lease = this.lease;
    if (!lease) return;
    this.lease = undefined;
    this.log[level]({ epoch: lease.epoch, reason }, 'no longer leader');
    this.transition = this.transition.then(() => this.callbacks.deposed(lease)).catch((err: unknown) => {
      this.log.error({ err }, 'stopping leader duties failed');
    });
  }

  /** Steps down now (a write found the lease gone); campaigning goes on. */
  relinquish(reason: string): void {
    this.stepDown(reason);
  }

  /** Stops campaigning; a held lease is released so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A round still acquiring gives back what it wins (see tick); waiting for it, up to a lease's
    // length, lets a lease it renewed be released below rather than left to expire.
    await Promise.race([this.ticking, new Promise((r) => setTimeout(r, this.options.ttlMs).unref())]);
    const lease = this.lease;
    if (lease) {
      this.stepDown('shutting down', 'info');
      await this.transition;
      await releaseLease(this.db, SCHEDULER_LEASE, lease).catch(() => undefined);
    }
    await this.transition;
  }
}
