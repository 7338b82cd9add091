import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { encode, HostVerb, StreamPublisher, type Subjects } from '@fjord/bus';
import { placementV1, workerV1 } from '@fjord/proto';
import { deleteOutbox, eventsBySequence, pruneRemovals, readOutbox, type Database, type EventRecord, type Fence, type PublishedGeneration } from '@fjord/store';
import { buildDesiredStates } from './desired-state.js';

/** Converts a stored event to its wire form. */
export function toProtoEvent(e: EventRecord): placementV1.Event {
  return {
    sequence: BigInt(e.sequence),
    kind: e.kind,
    tenant: e.tenant ?? '',
    subject: e.subject,
    host: e.host ?? '',
    message: e.message,
    at: e.at.toISOString(),
  };
}

/** Events per NATS message at most (a message stays far below NATS's 1 MB payload limit). */
const EVENTS_PER_MESSAGE = 500;
/** Hosts whose desired states one read builds. */
const HOSTS_PER_READ = 1000;
/** Events one read fetches, about (whole changes are taken). */
const EVENTS_PER_READ = 5000;

/**
 * Publishes the outbox to NATS JetStream, oldest first, and deletes what was published. An
 * outbox row is one committed change: the hosts whose desired state it changed and the events it
 * recorded. Each host's state goes out as one message, and the row's events as a few
 * `EventBatch` messages (runs of one tenant, up to {@link EVENTS_PER_MESSAGE}, in sequence
 * order). Every message carries an id derived from what it holds (`desired:<host>:<generation>`,
 * `events:<first sequence>`), so a relay that crashed after publishing and before deleting
 * publishes the same messages again and JetStream drops the repeats. Runs on the leader only, one
 * batch at a time.
 *
 * A host's first message from this relay is its whole state; after that, if its worker accepts
 * deltas, each message holds only the changes since the one before (the relay remembers what it
 * published to each host, in which epoch). A worker that missed one sees the gap and syncs.
 */
export class OutboxRelay {
  private streams: StreamPublisher;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();
  private lastPassAt = -Infinity;
  /** What this relay last published to each host (a new leader's relay starts with whole states). */
  private readonly published = new Map<string, PublishedGeneration>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly log: Logger,
    /** This leader's lease: removals are forgotten only while it holds (see pruneRemovals). */
    private readonly fence: Fence,
    private readonly pollMs = 250,
    private readonly minGapMs = 15,
  ) {
    this.streams = new StreamPublisher(nc);
  }

  /** Starts relaying; `kick()` after each commit makes it prompt, the poll catches the rest. */
  start(): void {
    this.stopped = false;
    this.kick();
  }

  /**
   * Asks for a relay pass soon (coalesces with one in progress). Passes start at least
   * `minGapMs` apart: under load the commits of that gap go out in one pass rather than a pass
   * each (four statements a pass); after a quiet spell a commit is relayed at once.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    const wait = this.lastPassAt + this.minGapMs - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.pass(), wait);
      return;
    }
    this.pass();
  }

  private pass(): void {
    this.running = true;
    this.lastPassAt = performance.now();
    this.idle = this.drain().finally(() => {
      this.running = false;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.kick();
      } else {
        this.timer = setTimeout(() => this.kick(), this.pollMs);
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.streams.failed && !this.stopped) {
      // Its acknowledgements stopped arriving (the inbox subscription failed): start a new one.
      this.log.error('outbox relay: JetStream acknowledgements stopped arriving; publishing through a new inbox');
      this.streams = new StreamPublisher(this.nc);
    }
    try {
      for (;;) {
        const limit = 200; // changes; each may hold thousands of hosts and events
        const published = await this.relayBatch(limit);
        // A short batch took everything committed before it was read; later commits kick again.
        if (published < limit || this.stopped) return;
      }
    } catch (err) {
      this.log.warn({ err }, 'outbox relay pass failed; will retry');
    }
  }

  /**
   * Publishes up to `limit` outbox rows; returns how many rows were handled. Reads and publishes a
   * bounded slice at a time ({@link HOSTS_PER_READ} hosts, about {@link EVENTS_PER_READ} events):
   * a pass may cover the whole fleet, and each desired state holds every container of its host.
   */
  async relayBatch(limit: number): Promise<number> {
    const rows = await readOutbox(this.db, limit);
    if (rows.length === 0) return 0;
    const hosts = [...new Set(rows.flatMap((r) => r.hosts))];
    for (let i = 0; i < hosts.length; i += HOSTS_PER_READ) await this.publishDesired(hosts.slice(i, i + HOSTS_PER_READ));
    for (let i = 0; i < rows.length; ) {
      const slice: string[][] = [];
      for (let n = 0; i < rows.length && n < EVENTS_PER_READ; i++) {
        slice.push(rows[i]!.event_sequences);
        n += rows[i]!.event_sequences.length;
      }
      await this.publishEvents(slice);
    }
    await deleteOutbox(
      this.db,
      rows.map((r) => r.id),
    );
    return rows.length;
  }

  private async publishDesired(hosts: string[]): Promise<void> {
    const states = await buildDesiredStates(this.db, hosts, this.published);
    const prune: { host: string; generation: number }[] = [];
    // Settled, not all: a failed publish must not leave the others to finish after a later pass,
    // so `published` only moves forward (each pass reads a snapshot at least as new as the last).
    const results = await Promise.allSettled(
      [...states.values()].map(async ({ state, read }) => {
        // Already published (a later commit was seen by an earlier pass): nothing new to send.
        if (read.base === read.desiredGeneration) return;
        await this.streams.publish(this.subjects.host(state.host, HostVerb.Desired), encode(workerV1.DesiredState, state), `desired:${state.host}:${state.generation}`);
        this.published.set(read.name, { epoch: read.epoch, generation: read.desiredGeneration });
        if (read.removed.length > 0) prune.push({ host: read.name, generation: read.desiredGeneration });
      }),
    );
    if (!(await pruneRemovals(this.db, prune, this.fence))) this.log.warn('outbox relay: the lease is gone; removals left for the next leader');
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Publishes the events of some changes (each change's sequences), in batches per change. */
  private async publishEvents(changes: string[][]): Promise<void> {
    const events = await eventsBySequence(this.db, changes.flat());
    const bySequence = new Map(events.map((e) => [String(e.sequence), e]));
    const publishes: Promise<unknown>[] = [];
    for (const sequences of changes) {
      const changeEvents = sequences.map((s) => bySequence.get(s)).filter((e) => e !== undefined);
      for (const batch of eventBatches(changeEvents)) {
        publishes.push(
          this.streams.publish(this.subjects.events(batch[0]!.tenant ?? undefined), encode(placementV1.EventBatch, { events: batch.map(toProtoEvent) }), `events:${batch[0]!.sequence}`),
        );
      }
    }
    await Promise.all(publishes);
  }

  /** Stops after the pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.idle;
    this.streams.close();
  }
}

/**
 * One change's events as messages: runs of consecutive events of one tenant, at most
 * {@link EVENTS_PER_MESSAGE} each, in sequence order, so that a watcher of every tenant (which
 * drops any sequence not above the last it sent) receives them in order.
 */
function eventBatches(events: readonly EventRecord[]): EventRecord[][] {
  const batches: EventRecord[][] = [];
  let run: EventRecord[] = [];
  for (const e of events) {
    if (run.length > 0 && (run.length === EVENTS_PER_MESSAGE || (run[0]!.tenant ?? '') !== (e.tenant ?? ''))) {
      batches.push(run);
      run = [];
    }
    run.push(e);
  }
  if (run.length > 0) batches.push(run);
  return batches;
}
