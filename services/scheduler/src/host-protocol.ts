import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { decode, encode, HostVerb, type Subjects } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';
import {
  FencedError,
  hostGenerations,
  recordAppliedGenerations,
  recordHeartbeatTimes,
  recordObserved,
  staleHosts,
  type Database,
  type Fence,
  type ObservedUpdate,
} from '@fjord/store';
import type { Applier } from './applier.js';
import { buildDesiredStates } from './desired-state.js';
import type { FleetState } from './fleet-state.js';

const observedStates = new Set(['RUNNING', 'STOPPED', 'FAILED']);

/** Longest observation message kept (a driver's error text can be long). */
const OBSERVED_MAX_CHARS = 2000;

/** Flushes in a row that may fail before the observations they carry are dropped. */
const OBSERVED_MAX_ATTEMPTS = 3;

/** Decodes a message of a per-host subject, checking the body names the subject's host. */
function hostMessage<T extends { host: string }>(
  subjects: Subjects,
  msg: Msg,
  codec: { decode(input: Uint8Array): T },
  type: string,
  log: Logger,
): T | undefined {
  try {
    const body = decode(codec, type, msg.subject, msg.data);
    if (body.host !== subjects.hostOf(msg.subject)) {
      log.warn({ subject: msg.subject, host: body.host }, `dropped ${type}: host does not match its subject`);
      return undefined;
    }
    return body;
  } catch (err) {
    log.warn({ err, subject: msg.subject }, `dropped a malformed ${type}`);
    return undefined;
  }
}

/** Most hosts one sync read covers (a short read answers the first requests sooner). */
const MAX_SYNC_BATCH = 500;
/**
 * A sync request that waited longer than this is dropped unanswered: its worker has given up on it
 * (the worker's default request timeout) and asked again, so answering would only add to a backlog.
 */
const SYNC_STALE_MS = 2000;

/**
 * Answers sync requests on every replica (a queue group shares them): the host's whole desired
 * state, read from Postgres, or `unchanged` (see {@link answerSyncs}). One read at a time per replica: requests arriving meanwhile (a fleet
 * reconnecting, periodic syncs) wait and are answered together from the next read, so a burst of
 * syncs can never take every database connection from the applier.
 */
export function serveSync(nc: NatsConnection, db: Kysely<Database>, subjects: Subjects, log: Logger): Subscription {
  let waiting: { request: workerV1.SyncRequest; msg: Msg; at: number }[] = [];
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  const answer = (): void => {
    timer = undefined;
    if (reading) return;
    const fresh = Date.now() - SYNC_STALE_MS;
    const stale = waiting.filter((w) => w.at < fresh).length;
    if (stale > 0) {
      waiting = waiting.filter((w) => w.at >= fresh);
      log.warn({ dropped: stale, waiting: waiting.length }, 'sync requests waited too long; dropped (their workers ask again)');
    }
    if (waiting.length === 0) return;
    const batch = waiting.splice(0, MAX_SYNC_BATCH);
    reading = true;
    answerSyncs(db, batch)
      .then(
        () => undefined,
        (error: unknown) => log.warn({ err: error, hosts: batch.length }, 'sync requests failed'),
      )
      .finally(() => {
        reading = false;
        answer();
      });
  };
  return nc.subscribe(subjects.anyHost(HostVerb.Sync), {
    queue: `${subjects.prefix}-scheduler-sync`,
    callback: (err, msg) => {
      if (err) return;
      const request = hostMessage(subjects, msg, workerV1.SyncRequest, 'SyncRequest', log);
      if (!request) return;
      waiting.push({ request, msg, at: Date.now() });
      // A short wait gathers a burst into one read; a read in progress gathers them anyway.
      if (!reading) timer ??= setTimeout(answer, 10);
    },
  });
}

/**
 * Answers a batch of sync requests. A worker that has applied its host's current generation (and
 * says it understands the short answer) gets `unchanged` and no containers: a periodic sync of an
 * up-to-date host, the usual case, reads only the host's row. The others get the whole state.
 */
async function answerSyncs(db: Kysely<Database>, batch: readonly { request: workerV1.SyncRequest; msg: Msg }[]): Promise<void> {
  const current = await hostGenerations(db, [...new Set(batch.filter((b) => b.request.acceptsUnchanged).map((b) => b.request.host))]);
  const upToDate = (r: workerV1.SyncRequest) => {
    const host = current.get(r.host);
    return host !== undefined && BigInt(host.epoch) === r.epoch && BigInt(host.generation) === r.haveGeneration;
  };
  const unchanged = batch.map((b) => b.request.acceptsUnchanged && upToDate(b.request));
  const states = await buildDesiredStates(db, [...new Set(batch.filter((_, i) => !unchanged[i]).map((b) => b.request.host))]);
  batch.forEach(({ request, msg }, i) => {
    const { host } = request;
    const state: workerV1.DesiredState = unchanged[i]
      ? workerV1.DesiredState.create({ host, epoch: request.epoch, generation: request.haveGeneration, unchanged: true })
      : (states.get(host)?.state ?? workerV1.DesiredState.create({ host }));
    msg.respond(encode(workerV1.DesiredState, state));
  });
}

/** Most stale marks one applier transaction records (with an event each). */
const STALE_MARKS_PER_WRITE = 1000;

/** A host's heartbeat time is written at most this often. */
const HEARTBEAT_WRITE_MS = 15_000;

/**
 * What is wrong with a registration, or ''. Checked before it joins the registrations that commit
 * together: a value Postgres cannot store (a NUL) would fail all of them.
 */
function registrationProblem(req: workerV1.RegisterHostRequest): string {
  if (req.cpuMillis <= 0) return 'cpu_millis must be positive';
  if (req.memoryBytes <= 0n) return 'memory_bytes must be positive';
  if (req.slots <= 0) return 'slots must be positive';
  const nul = (text: string): boolean => text.includes('\0');
  const label = Object.entries(req.labels).find(([key, value]) => nul(key) || nul(value));
  if (label) return `labels: ${JSON.stringify(label[0])} holds a NUL character`;
  const network = req.physicalNetworks.find((n) => n === '' || nul(n));
  if (network !== undefined) return `physical_networks: ${JSON.stringify(network)} is not a network name`;
  return '';
}

/**
 * The leader's side of the worker protocol: registrations (through the applier), heartbeats and
 * status reports (batched into Postgres every `flushMs`). Messages carrying an epoch other than
 * the host's current one come from a fenced incarnation and are ignored.
 */
export class HostProtocol {
  private readonly subscriptions: Subscription[] = [];
  /** Hosts heard from whose heartbeat time is not written yet. */
  private readonly heartbeats = new Set<string>();
  private applied = new Map<string, number>();
  /** When each host's heartbeat time was last written, and the applied generation last written. */
  private readonly heartbeatWritten = new Map<string, number>();
  private readonly appliedWritten = new Map<string, number>();
  private observed = new Map<string, ObservedUpdate>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private flushes = 0;
  /** Flushes in a row that failed to write their observations. */
  private failedFlushes = 0;
  /** The hosts recorded as stale (read at the first check of this leader's term). */
  private recordedStale: Set<string> | undefined;
  /** The stale marks being recorded, if any. */
  private recordingStale: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: Kysely<Database>,
    private readonly subjects: Subjects,
    private readonly applier: Applier,
    private readonly state: FleetState,
    /**
     * `fence`: this leader's lease, which the observations' statement checks; `relinquish`: steps
     * this replica down when that check finds the lease gone.
     */
    private readonly options: { heartbeatIntervalMs: number; flushMs: number; fence: Fence; relinquish: (reason: string) => void },
    private readonly log: Logger,
  ) {}

  /** Subscribes to every host's register, heartbeat and status subjects. */
  start(): void {
    const s = this.subjects;
    this.subscriptions.push(
      this.nc.subscribe(s.anyHost(HostVerb.Register), { callback: (err, msg) => void (err || this.onRegister(msg)) }),
      this.nc.subscribe(s.anyHost(HostVerb.Heartbeat), { callback: (err, msg) => void (err || this.onHeartbeat(msg)) }),
      this.nc.subscribe(s.anyHost(HostVerb.Status), { callback: (err, msg) => void (err || this.onStatus(msg)) }),
    );
    this.timer = setInterval(() => {
      this.flushing = this.flushing.then(() => this.flush());
    }, this.options.flushMs);
  }

  private onRegister(msg: Msg): void {
    const req = hostMessage(this.subjects, msg, workerV1.RegisterHostRequest, 'RegisterHostRequest', this.log);
    if (!req) return;
    const reply = (r: workerV1.RegisterHostReply) => msg.respond(encode(workerV1.RegisterHostReply, r));
    const invalid = registrationProblem(req);
    if (invalid) {
      reply({ error: invalid, epoch: 0n, heartbeatIntervalMs: 0 });
      return;
    }
    this.applier
      .registerHost({
        name: req.host,
        labels: req.labels,
        physicalNetworks: req.physicalNetworks,
        capacity: { cpuMillis: req.cpuMillis, memoryBytes: Number(req.memoryBytes), slots: req.slots },
        acceptsDeltas: req.acceptsDeltas,
      })
      .then(
        (epoch) => reply({ error: '', epoch: BigInt(epoch), heartbeatIntervalMs: this.options.heartbeatIntervalMs }),
        (err: unknown) => {
          this.log.warn({ err, host: req.host }, 'registration failed');
          reply({ error: `registration failed: ${err instanceof Error ? err.message : String(err)}`, epoch: 0n, heartbeatIntervalMs: 0 });
        },
      );
  }

  private current(host: string, epoch: bigint): boolean {
    return this.state.host(host)?.epoch === Number(epoch);
  }

  private onHeartbeat(msg: Msg): void {
    const hb = hostMessage(this.subjects, msg, workerV1.Heartbeat, 'Heartbeat', this.log);
    if (!hb || !this.current(hb.host, hb.epoch)) return;
    this.heardFrom(hb.host, hb.appliedGeneration);
  }

  /** Notes a message from a host's current incarnation: it is live, and has applied this generation. */
  private heardFrom(host: string, appliedGeneration: bigint): void {
    this.state.heard(host, Date.now());
    this.heartbeats.add(host);
    this.applied.set(host, Math.max(this.applied.get(host) ?? 0, Number(appliedGeneration)));
  }

  private onStatus(msg: Msg): void {
    const report = hostMessage(this.subjects, msg, workerV1.StatusReport, 'StatusReport', this.log);
    if (!report || !this.current(report.host, report.epoch)) return;
    this.heardFrom(report.host, report.appliedGeneration);
    for (const c of report.containers) {
      if (!observedStates.has(c.state)) continue;
      this.observed.set(c.runtimeName, {
        host: report.host,
        runtimeName: c.runtimeName,
        state: c.state as ObservedUpdate['state'],
        // Postgres text holds no NUL: one such message would fail every flush it is part of.
        observed: c.message.replaceAll('\0', '').slice(0, OBSERVED_MAX_CHARS),
      });
    }
  }

  /**
   * Writes what arrived since the last flush: observed states every flush; every 20th, applied
   * generations that rose and the heartbeat times of hosts whose time written is older than
   * {@link HEARTBEAT_WRITE_MS} (both are for display; liveness is judged in memory, see
   * {@link FleetState.heard}); every 10th, it starts recording the hosts that went stale or were
   * heard from again.
   * Writing every host's time every 2 s cost Postgres more than the placements did.
   */
  private async flush(final = false): Promise<void> {
    this.flushes++;
    const persistLiveness = final || this.flushes % 20 === 0;
    const now = Date.now();
    const heartbeats = persistLiveness ? [...this.heartbeats].filter((h) => final || now - (this.heartbeatWritten.get(h) ?? 0) >= HEARTBEAT_WRITE_MS) : [];
    const applied = new Map(persistLiveness ? [...this.applied].filter(([h, generation]) => generation > (this.appliedWritten.get(h) ?? -1)) : []);
    const observed = [...this.observed.values()];
    for (const h of heartbeats) this.heartbeats.delete(h);
    if (persistLiveness) this.applied = new Map();
    this.observed = new Map();
    try {
      await recordHeartbeatTimes(this.db, this.heardTimes(heartbeats));
      for (const h of heartbeats) this.heartbeatWritten.set(h, now);
      await recordAppliedGenerations(this.db, applied);
      for (const [h, generation] of applied) this.appliedWritten.set(h, generation);
      await recordObserved(this.db, observed, this.options.fence);
      this.failedFlushes = 0;
    } catch (err) {
      if (err instanceof FencedError) {
        // This replica's lease is gone or about to expire: it steps down, and whoever leads next
        // has these from the workers' next whole reports.
        this.log.warn({ dropped: observed.length }, 'recording host reports refused: the lease is gone');
        this.options.relinquish('the lease was gone when recording host reports');
        return;
      }
      // Workers report only what changed: keep the observations for the next flush, under any
      // newer one, a few times; then drop them (the workers' next whole reports bring them again).
      if (++this.failedFlushes < OBSERVED_MAX_ATTEMPTS) {
        for (const u of observed) if (!this.observed.has(u.runtimeName)) this.observed.set(u.runtimeName, u);
        this.log.warn({ err, attempt: this.failedFlushes }, 'recording host reports failed; retrying with the next flush');
      } else {
        this.failedFlushes = 0;
        this.log.error({ err, dropped: observed.length }, 'recording host reports failed again; dropped them until the workers report every container again');
      }
    }
    // Outside this chain: the marks wait their turn in the applier's queue, behind placements,
    // and the reports above must not wait with them. One at a time; a failed one is tried again.
    if (!final && this.flushes % 10 === 0 && this.recordingStale === undefined) {
      this.recordingStale = this.recordStaleChanges(now)
        .catch((err: unknown) => this.log.warn({ err }, 'recording which hosts are stale failed; trying again in a second'))
        .finally(() => (this.recordingStale = undefined));
    }
  }

  /** When these hosts were last heard from, leaving out those only counted as heard (at load). */
  private heardTimes(hosts: readonly string[]): Map<string, number> {
    const times = new Map<string, number>();
    for (const h of hosts) {
      const at = this.state.lastHeard(h);
      if (typeof at === 'number') times.set(h, at);
    }
    return times;
  }

  /**
   * Records, through the applier (fenced, with an event for each), the hosts that went stale or
   * were heard from again since last recorded, and logs them.
   */
  private async recordStaleChanges(now: number): Promise<void> {
    // Only the leader writes marks (fenced), so what it read at first and wrote since is what is stored.
    const recorded = (this.recordedStale ??= await staleHosts(this.db));
    const stale = this.state.staleHosts(now);
    const changed = [...[...stale].filter((name) => !recorded.has(name)), ...[...recorded].filter((name) => !stale.has(name))];
    // A host that is gone (deleted) is left alone.
    const marks = changed.flatMap((name) => this.state.staleMark(name, now) ?? []);
    // A whole fleet at once (this leader cut off from NATS, say) goes in parts, so that placements queued meanwhile take turns.
    for (let i = 0; i < marks.length; i += STALE_MARKS_PER_WRITE) {
      const part = marks.slice(i, i + STALE_MARKS_PER_WRITE);
      await this.applier.recordStaleMarks(part);
      const silent = part.filter((m) => m.stale).map((m) => m.name);
      const back = part.filter((m) => !m.stale).map((m) => m.name);
      for (const name of silent) recorded.add(name);
      for (const name of back) recorded.delete(name);
      const some = (names: string[]) => ({ hosts: names.length, first: names.slice(0, 10) });
      if (silent.length > 0) this.log.warn(some(silent), `hosts not heard from for ${this.state.staleAfterMs} ms: placement skips them`);
      if (back.length > 0) this.log.info(some(back), 'hosts heard from again: placement takes them again');
    }
  }

  /** Unsubscribes and writes what is pending (stale marks aside: the next leader judges them anew). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    await this.flushing;
    await this.flush(true);
    await this.recordingStale;
  }
}
