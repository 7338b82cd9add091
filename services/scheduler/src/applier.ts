import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import {
  AlreadyExistsError,
  ExhaustedError,
  FailedPreconditionError,
  NotFoundError,
  PlacementSequence,
  releasePlacements,
  runtimeNameOf,
  UnavailableError,
  type HostState,
  type Placement,
  type PlacementSnapshot,
  type ScoringPolicy,
} from '@fjord/core';
import {
  Allocator,
  bumpGenerations,
  checkLease,
  FencedError,
  AddressesShortError,
  constraintName,
  deleteContainerRow,
  recordRemovals,
  findContainers,
  findNetworks,
  listHosts,
  recordChanges,
  recordStaleMarks,
  refusedByPostgres,
  registerHosts,
  setHostState,
  placeContainers,
  placeContainersInTransaction,
  type ContainerRecord,
  type ContainerToPlace,
  type Database,
  type HostRegistration,
  type Lease,
  type StaleMark,
} from '@fjord/store';
import { FleetState, toCoreHost } from './fleet-state.js';
import { SCHEDULER_LEASE } from './leader.js';
import { recordToPlacementRequest, sameSpec, toPlacementRequest, type ContainerSpecInput } from './spec.js';

/** One client request to place containers, all or nothing. */
interface PlaceJob {
  specs: ContainerSpecInput[];
  policy: ScoringPolicy;
  resolve(containers: ContainerRecord[]): void;
  reject(err: unknown): void;
}

/** A host registering. */
interface RegisterJob {
  registration: HostRegistration;
  resolve(epoch: number): void;
  reject(err: unknown): void;
}

/** Another write, run alone. */
interface OtherJob {
  run(): Promise<void>;
  fail(err: unknown): void;
}

type Job = PlaceJob | RegisterJob | OtherJob;

type Network = Awaited<ReturnType<typeof findNetworks>> extends Map<string, infer N> ? N : never;

/** What a request's decision is: containers to place, an answer without a write, or an error. */
type Outcome =
  | { kind: 'plan'; plan: readonly Placement[] }
  | { kind: 'copy'; keys: string[] }
  | { kind: 'answer'; containers: ContainerRecord[] }
  | { kind: 'reject'; error: unknown };

/** A group of requests decided against a snapshot; `sequence` holds that one and the group's plans. */
interface DecidedGroup {
  group: PlaceJob[];
  outcomes: Outcome[];
  networks: Map<string, Network>;
  sequence: PlacementSequence;
  /**
   * The time its decisions judge hosts' heartbeats against: one for the group keeps its rankings
   * reusable. Requests added while the group before commits are judged a commit late, which can
   * only make a dead host look live a few milliseconds longer.
   */
  now: number;
  /** The containers the group's plans create, by `tenant/name`. */
  taken: Map<string, ContainerSpecInput>;
}

/** How many containers one group commit takes at most. */
const MAX_GROUP = 2000;
/** After a commit that answered this many requests or more, their clients' next ones are waited for... */
const RETURN_MIN = 8;
/** ...for at most this many timer turns (about a millisecond each), while each brings this many. */
const RETURN_WAITS = 6;
const RETURN_RATE = 2;

/**
 * The leader's single writer (STYLE.md item 2). Placement requests queue up; each pass takes
 * what has queued, computes every plan against the current fleet state (each seeing the ones
 * before it), and commits them in one transaction with their addresses, events and outbox rows,
 * fenced by the leader lease. Should the group fail, each request is retried alone so that one
 * bad request fails only itself. The next group is decided while one commits (see `loop`); no
 * request is answered before the commit its decision rests on. The fleet state changes only
 * after a commit.
 */
export class Applier {
  private readonly queue: Job[] = [];
  /** Networks read by earlier decisions, by `tenant/name`; forgotten when a commit fails. */
  private readonly networks = new Map<string, Network>();
  /** Networks (by id) whose one-statement allocation fell short: too full or fragmented for it. */
  private readonly fragmented = new Set<string>();
  private running = false;
  /** Requests the last placement commit answered. */
  private answered = 0;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly lease: Lease,
    private readonly state: FleetState,
    private readonly onCommit: () => void,
    private readonly log: Logger,
    /** Called when this replica must stop leading at once (a write found the lease gone, say). */
    private readonly onStepDown: (reason: string) => void = () => undefined,
  ) {}

  /** Places a batch (or one) of containers; resolves with them once durably committed. */
  place(specs: ContainerSpecInput[], policy: ScoringPolicy): Promise<ContainerRecord[]> {
    return new Promise((resolve, reject) => this.enqueue({ specs, policy, resolve, reject }));
  }

  /** Deletes a container: its row, its address, and it from its host's desired state. */
  deleteContainer(tenant: string, name: string): Promise<void> {
    return this.exclusive(async () => {
      const deleted = await this.transaction(async (trx) => {
        const container = await deleteContainerRow(trx, tenant, name);
        if (!container) throw new NotFoundError('name', `container ${tenant}/${name} does not exist`);
        await new Allocator(trx).releaseAddress(tenant, container.network, container.address);
        const generations = await bumpGenerations(trx, [container.host]);
        await recordRemovals(trx, [{ host: container.host, generation: generations.get(container.host)!, runtimeName: container.runtimeName }]);
        await recordChanges(
          trx,
          [{ kind: 'container.deleted', tenant, subject: `${tenant}/${name}`, host: container.host, message: `removed from ${container.host}` }],
          [container.host],
        );
        return container;
      });
      const host = this.state.host(deleted.host);
      const physnet = host?.physicalNetworks[0] ?? '';
      if (host) this.state.snapshot = releasePlacements(this.state.snapshot, [{ request: recordToPlacementRequest(deleted, physnet), hostId: deleted.host }]);
      this.log.info({ tenant, name, host: deleted.host }, 'container deleted');
    });
  }

  /**
   * Registers a host (or its new incarnation); resolves with its new epoch. Registrations that
   * queue up together (a fleet starting, thousands of simulated hosts) commit in one transaction.
   */
  registerHost(reg: HostRegistration): Promise<number> {
    return new Promise((resolve, reject) => this.enqueue({ registration: reg, resolve, reject }));
  }

  private async commitRegistrations(jobs: RegisterJob[]): Promise<void> {
    // The newest registration of a host wins; every caller of it gets the same epoch.
    const byHost = new Map<string, RegisterJob[]>();
    for (const job of jobs) byHost.set(job.registration.name, [...(byHost.get(job.registration.name) ?? []), job]);
    try {
      const epochs = await this.transaction(async (trx) => {
        const epochs = await registerHosts(
          trx,
          [...byHost.values()].map((hostJobs) => hostJobs.at(-1)!.registration),
        );
        await recordChanges(
          trx,
          [...epochs].map(([name, r]) => ({ kind: 'host.registered', subject: name, host: name, message: `${r.isNew ? 'new host' : 'host re-registered'}, epoch ${r.epoch}` })),
          [...epochs.keys()],
        );
        return epochs;
      });
      await this.refreshHosts([...byHost.keys()]);
      // A registration is word from the host: it is live before its first heartbeat.
      const now = Date.now();
      for (const name of byHost.keys()) this.state.heard(name, now);
      this.onCommit();
      for (const [name, hostJobs] of byHost) for (const job of hostJobs) job.resolve(epochs.get(name)!.epoch);
      this.log.info({ hosts: byHost.size, first: jobs[0]?.registration.name }, 'hosts registered');
    } catch (err) {
      for (const job of jobs) job.reject(err);
    }
  }

  /** Changes a host's scheduling state (cordon, uncordon); a host already in it records no event. */
  setHostState(name: string, state: HostState, event: string): Promise<void> {
    return this.exclusive(async () => {
      await this.transaction(async (trx) => {
        const previous = await setHostState(trx, name, state);
        if (previous === undefined) throw new NotFoundError('name', `host ${name} does not exist`);
        if (previous !== state) await recordChanges(trx, [{ kind: event, subject: name, host: name, message: `state ${state}` }], []);
      });
      await this.refreshHosts([name]);
      this.log.info({ host: name, state }, event);
    });
  }

  /**
   * Records hosts that went stale or were heard from again, each with an event (`host.stale`,
   * `host.heard`), in one transaction fenced by the lease: a deposed leader records none.
   */
  recordStaleMarks(marks: readonly StaleMark[]): Promise<void> {
    const since = (m: StaleMark) => (m.heardAt === null ? 'since this leader took over' : `since ${new Date(m.heardAt).toISOString()}`);
    return this.exclusive(() =>
      this.transaction(async (trx) => {
        await recordStaleMarks(trx, marks);
        await recordChanges(
          trx,
          marks.map((m) =>
            m.stale
              ? { kind: 'host.stale', subject: m.name, host: m.name, message: `not heard from ${since(m)}; placement skips it` }
              : { kind: 'host.heard', subject: m.name, host: m.name, message: 'heard from again; placement takes it again' },
          ),
          [],
        );
      }),
    );
  }

  /** Reads back hosts a commit changed. Should that fail, this replica must not go on leading on a view without the change. */
  private async refreshHosts(names: string[]): Promise<void> {
    try {
      const hosts = await listHosts(this.db, { names });
      this.state.update(hosts.map(toCoreHost));
    } catch (err) {
      this.stepDown('hosts changed by a commit could not be read back', err);
      throw err;
    }
  }

  /** Stops taking work; queued requests fail as unavailable (the client retries on the new leader). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle;
    for (const job of this.queue.splice(0)) failUnavailable(job);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ run: () => fn().then(resolve, reject), fail: reject });
    });
  }

  private enqueue(job: Job): void {
    if (this.stopped) return failUnavailable(job);
    this.queue.push(job);
    if (!this.running) {
      this.running = true;
      this.idle = this.loop().finally(() => (this.running = false));
    }
  }

  /**
   * Takes queued work in order. Placement groups are pipelined: the next group is decided while
   * the one before it commits, against the fleet as that one will leave it. If that commit does
   * not go as planned, the next group is decided again against what did commit.
   */
  private async loop(): Promise<void> {
    let inFlight: { committed: Promise<boolean>; snapshot: PlacementSnapshot; keys: Set<string> } | undefined;
    const settle = async (): Promise<boolean> => {
      const committed = inFlight ? await inFlight.committed : true;
      inFlight = undefined;
      return committed;
    };
    do {
      while (this.queue.length > 0 && !this.stopped) {
        const first = this.queue[0]!;
        if ('run' in first) {
          await settle();
          this.queue.shift();
          await first.run();
          continue;
        }
        if ('registration' in first) {
          await settle();
          const registrations: RegisterJob[] = [];
          while (registrations.length < MAX_GROUP && this.queue[0] && 'registration' in this.queue[0]) registrations.push(this.queue.shift() as RegisterJob);
          await this.commitRegistrations(registrations);
          continue;
        }
        if (!inFlight) await this.awaitReturningClients();
        const group = this.takePlaceGroup(MAX_GROUP);
        // A request for a container still being committed (a client's retry) must see that commit.
        if (inFlight && keysOf(group).some((k) => inFlight!.keys.has(k))) await settle();
        let decided: DecidedGroup;
        try {
          decided = await this.decideGroup(group, inFlight?.snapshot ?? this.state.snapshot);
          if (inFlight && !(await settle())) decided = await this.decideGroup(group, this.state.snapshot);
        } catch (err) {
          rejectUnreadable(group, err);
          continue;
        }
        // Requests that queued during the commit before join this one; otherwise a short group
        // would commit alone and they would wait for a whole commit more.
        const more = this.takePlaceGroup(MAX_GROUP - containersOf(decided.group));
        if (more.length > 0) {
          try {
            decided = await this.decideGroup(more, decided);
          } catch (err) {
            rejectUnreadable(more, err);
          }
        }
        inFlight = { committed: this.commitGroup(decided), snapshot: decided.sequence.snapshot(), keys: new Set(keysOf(decided.group)) };
      }
      await settle();
    } while (this.queue.length > 0 && !this.stopped);
    // Stepped down (or stopping): what still waits will not run here; its callers retry on the next leader.
    if (this.stopped) for (const job of this.queue.splice(0)) failUnavailable(job);
  }

  /**
   * Clients answered by the last commit often send their next request at once. When that commit
   * answered many and few requests wait, they get a moment to arrive (while they keep arriving
   * several a millisecond, a few milliseconds at most), rather than the few committing alone and
   * the many waiting for a whole commit more. Requests arriving one by one (an open stream of
   * them) do not hold a group back past the first millisecond.
   */
  private async awaitReturningClients(): Promise<void> {
    const answered = this.answered;
    this.answered = 0;
    if (answered < RETURN_MIN) return;
    for (let waits = 0; waits < RETURN_WAITS && this.queue.length < answered / 2; waits++) {
      const before = this.queue.length;
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (this.queue.length - before < RETURN_RATE) return;
    }
  }

  /**
   * The placement requests at the head of the queue, up to `limit` containers; when `limit` is
   * {@link MAX_GROUP}, at least one request.
   */
  private takePlaceGroup(limit: number): PlaceJob[] {
    const group: PlaceJob[] = [];
    let size = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (!('specs' in next) || ((group.length > 0 || limit < MAX_GROUP) && size + next.specs.length > limit)) break;
      group.push(next);
      size += next.specs.length;
      this.queue.shift();
    }
    return group;
  }

  /**
   * Commits a decided group; resolves true when it committed as decided. Should the group fail,
   * each request is decided and committed again alone, against what has committed: one bad
   * request then fails only itself, and a retry whose first attempt was still committing when it
   * was decided finds that container and gets it as its answer.
   */
  private async commitGroup(decided: DecidedGroup): Promise<boolean> {
    try {
      await this.commitDecided(decided, { oneStatement: true });
      return true;
    } catch (err) {
      const { group } = decided;
      if (this.stopped) {
        // Stepped down (or stopping): the new leader decides these requests.
        for (const job of group) failUnavailable(job);
        return false;
      }
      // The group was decided without looking for existing containers, maybe with a network that
      // has since changed (a retry of a committed request, say, fails on the container's unique
      // name), and its addresses allocated on the one-statement path only. Decide it again with
      // both read afresh, and allocate on any path; failing that, request by request.
      this.networks.clear();
      try {
        await this.commitDecided(await this.decideGroup(group, this.state.snapshot, true), { oneStatement: false });
        return false;
      } catch (againErr) {
        this.log.debug({ err, againErr, requests: group.length }, 'group commit failed twice; retrying requests one by one');
      }
      for (const job of group) {
        if (this.stopped) {
          failUnavailable(job);
          continue;
        }
        try {
          await this.commitDecided(await this.decideGroup([job], this.state.snapshot, true), { oneStatement: false });
        } catch (jobErr) {
          job.reject(translate(jobErr));
        }
      }
      return false;
    }
  }

  /**
   * Decides each request of a group against a snapshot as the requests before it leave it, or,
   * given a decided group, adds the requests to it, after its own. Nothing is answered yet: the
   * snapshot may include a commit still in flight.
   *
   * Unless `fresh`, the decision is optimistic: it takes networks from what earlier decisions read
   * and assumes none of the containers exists, so that a group usually costs no read before its
   * commit. Should that be wrong, the commit fails (unique name, foreign key, unknown network) and
   * the group is decided again, fresh ({@link commitGroup}).
   */
  private async decideGroup(group: PlaceJob[], onto: PlacementSnapshot | DecidedGroup, fresh = false): Promise<DecidedGroup> {
    const before = 'sequence' in onto ? onto : undefined;
    const sequence = before?.sequence ?? new PlacementSequence(onto as PlacementSnapshot);
    const specs = group.flatMap((job) => job.specs);
    const [existing, networks] = await Promise.all([fresh ? findContainers(this.db, specs) : [], this.networksOf(specs)]);
    const existingByKey = new Map(existing.map((c) => [`${c.tenant}/${c.name}`, c]));
    const now = before?.now ?? Date.now();
    const outcomes = [...(before?.outcomes ?? [])];
    const taken = new Map(before?.taken);
    for (const [key, network] of before?.networks ?? []) networks.set(key, network);
    for (const job of group) {
      const outcome = this.decide(job, sequence, now, existingByKey, networks, taken);
      outcomes.push(outcome);
      if (outcome.kind !== 'plan') continue;
      for (const s of job.specs) taken.set(`${s.tenant}/${s.name}`, s);
    }
    return { group: [...(before?.group ?? []), ...group], outcomes, networks, sequence, now, taken };
  }

  /** The networks of these specs that exist, read only where not known from earlier decisions. */
  private async networksOf(specs: readonly ContainerSpecInput[]): Promise<Map<string, Network>> {
    const unknown = specs.filter((s) => !this.networks.has(`${s.tenant}/${s.network}`));
    if (unknown.length > 0) {
      const found = await findNetworks(
        this.db,
        unknown.map((s) => ({ tenant: s.tenant, name: s.network })),
      );
      for (const [key, network] of found) this.networks.set(key, network);
    }
    const networks = new Map<string, Network>();
    for (const key of new Set(specs.map((s) => `${s.tenant}/${s.network}`))) {
      const network = this.networks.get(key);
      if (network) networks.set(key, network);
    }
    return networks;
  }

  /**
   * Commits the plans of a decided group, then answers every request of it. With `oneStatement`,
   * in one statement that allocates the addresses on the allocator's one-statement path (unless a
   * network of the group is known to be too fragmented for it); otherwise, or then, in a
   * transaction that allocates them on any path.
   */
  private async commitDecided({ group, outcomes, networks, sequence }: DecidedGroup, { oneStatement }: { oneStatement: boolean }): Promise<void> {
    const containers = group.flatMap((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.kind !== 'plan') return [];
      return outcome.plan.map((placement, j) => {
        const spec = job.specs[j]!;
        return toContainer(spec, placement.hostId, networks.get(`${spec.tenant}/${spec.network}`)!.id);
      });
    });
    const fence = { name: SCHEDULER_LEASE, lease: this.lease };
    let rows: ContainerRecord[] = [];
    if (containers.length > 0) {
      try {
        if (oneStatement && !containers.some((c) => this.fragmented.has(c.networkId))) {
          rows = await this.fenced(() => placeContainers(this.db, containers, fence)).catch((err: unknown) => {
            // Every later group would fall short the same way: those are placed in a transaction.
            if (err instanceof AddressesShortError) for (const id of err.networkIds) this.fragmented.add(id);
            throw err;
          });
        } else {
          rows = await this.transaction((trx) => placeContainersInTransaction(trx, containers, fence), { fencedWithin: true });
        }
      } catch (err) {
        await this.recountIfUnknown(err);
        throw err;
      }
      this.state.snapshot = sequence.snapshot();
      this.onCommit();
    }
    const byKey = new Map(rows.map((c) => [`${c.tenant}/${c.name}`, c]));
    this.answered = group.length;
    group.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.kind === 'plan') job.resolve(job.specs.map((s) => byKey.get(`${s.tenant}/${s.name}`)!));
      else if (outcome.kind === 'copy') job.resolve(outcome.keys.map((k) => byKey.get(k)!));
      else if (outcome.kind === 'answer') job.resolve(outcome.containers);
      else job.reject(outcome.error);
    });
  }

  private decide(
    job: PlaceJob,
    sequence: PlacementSequence,
    now: number,
    existing: Map<string, ContainerRecord>,
    networks: Map<string, Network>,
    taken: Map<string, ContainerSpecInput>,
  ): Outcome {
    const fail = (error: unknown): Outcome => ({ kind: 'reject', error });
    const keys = job.specs.map((s) => `${s.tenant}/${s.name}`);
    if (keys.every((k, i) => taken.has(k) && JSON.stringify(taken.get(k)) === JSON.stringify(job.specs[i]))) {
      // A copy of a request decided earlier in this group: it gets the containers that one gets.
      return { kind: 'copy', keys };
    }
    const found = keys.map((k) => existing.get(k));
    if (found.every((c) => c !== undefined)) {
      // A retry of a request that was committed: answer it again, unless the spec changed.
      const changed = job.specs.findIndex((s, i) => !sameSpec(found[i]!, s));
      if (changed >= 0) return fail(new AlreadyExistsError(fieldOf(job, changed, 'name'), `container ${job.specs[changed]!.tenant}/${job.specs[changed]!.name} exists with another spec`));
      return { kind: 'answer', containers: found as ContainerRecord[] };
    }
    const seen = new Set<string>();
    for (const [i, spec] of job.specs.entries()) {
      const key = `${spec.tenant}/${spec.name}`;
      if (found[i] || taken.has(key) || seen.has(key)) return fail(new AlreadyExistsError(fieldOf(job, i, 'name'), `container ${key} already exists`));
      seen.add(key);
      if (!networks.has(`${spec.tenant}/${spec.network}`)) return fail(new NotFoundError(fieldOf(job, i, 'network'), `network ${spec.tenant}/${spec.network} does not exist`));
    }
    const requests = job.specs.map((s) => toPlacementRequest(s, networks.get(`${s.tenant}/${s.network}`)!.physicalNetwork));
    const result = sequence.place(requests, now, { scoring: job.policy, maxHeartbeatAgeMs: this.state.staleAfterMs });
    if (!result.ok) {
      // The message counts the hosts each filter turned away and names the request; the prefix gives its place in the batch.
      const { message, requestIndex } = result.reason;
      return fail(new ExhaustedError('hosts', `${placeOf(job, requestIndex)}: ${message}`));
    }
    return { kind: 'plan', plan: result.plan };
  }

  /**
   * Runs `fn` in a transaction fenced by the lease: checked last, or, with `fencedWithin`, by `fn`'s
   * own last statement.
   */
  private transaction<T>(fn: (trx: Kysely<Database>) => Promise<T>, { fencedWithin = false } = {}): Promise<T> {
    return this.fenced(() =>
      this.db.transaction().execute(async (trx) => {
        const result = await fn(trx);
        if (!fencedWithin) await checkLease(trx, SCHEDULER_LEASE, this.lease);
        return result;
      }),
    );
  }

  /**
   * After a failed placement commit whose outcome is unknown (no refusal from Postgres: a
   * connection lost while it committed, say), reads the fleet again, so that whatever that commit
   * placed counts before anything more is placed; deciding again finds its containers and answers
   * them, but would not count them. Steps down when the fleet cannot be read either: the next
   * leader reads it.
   */
  private async recountIfUnknown(cause: unknown): Promise<void> {
    if (this.stopped || cause instanceof AddressesShortError || refusedByPostgres(cause)) return;
    try {
      await this.state.reload(this.db);
      this.log.warn({ err: cause }, 'a placement commit got no answer; read the fleet again before deciding again');
    } catch (err) {
      this.stepDown('the outcome of a commit is unknown and the fleet cannot be read', err);
    }
  }

  /** Stops taking work and has this replica stop leading at once; `reason` says why, in the log too. */
  private stepDown(reason: string, err?: unknown): void {
    this.log.error({ err, epoch: this.lease.epoch }, `${reason}; stepping down`);
    this.stopped = true;
    this.onStepDown(reason);
  }

  /**
   * Runs a write fenced by the lease. A fenced write was not applied, so the caller sees it as
   * UNAVAILABLE (retry on the new leader), and this replica steps down.
   */
  private async fenced<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      this.stepDown('a write was fenced: the lease is gone');
      throw new UnavailableError('this scheduler lost the leader lease during the write; retry', { cause: err });
    }
  }
}

/** A container row for a spec placed on a host; its address is allocated as it is committed. */
function toContainer(spec: ContainerSpecInput, host: string, networkId: string): ContainerToPlace {
  const id = randomUUID();
  return {
    id,
    tenant: spec.tenant,
    name: spec.name,
    networkId,
    host,
    template: spec.template,
    cpuMillis: spec.cpuMillis,
    memoryBytes: spec.memoryBytes,
    constraints: spec.constraintTexts,
    antiAffinityGroup: spec.antiAffinityGroup ?? null,
    spreadLabel: spec.spreadLabel ?? null,
    command: spec.command,
    runtimeName: runtimeNameOf(id),
  };
}

function keysOf(group: readonly PlaceJob[]): string[] {
  return group.flatMap((job) => job.specs.map((s) => `${s.tenant}/${s.name}`));
}

function containersOf(group: readonly PlaceJob[]): number {
  return group.reduce((n, job) => n + job.specs.length, 0);
}

/** Deciding reads the database; if that fails, these requests fail and may be retried. */
function rejectUnreadable(group: readonly PlaceJob[], err: unknown): void {
  for (const job of group) job.reject(new UnavailableError(`placement: reading the fleet failed; retry (${errorText(err)})`, { cause: err }));
}

function failUnavailable(job: Job): void {
  const err = new UnavailableError('scheduler leader stepped down; retry');
  if ('fail' in job) job.fail(err);
  else job.reject(err);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Where request `index` is in the request: `container` alone, or `containers[index]` of a batch. */
function placeOf(job: PlaceJob, index: number): string {
  return job.specs.length === 1 ? 'container' : `containers[${index}]`;
}

function fieldOf(job: PlaceJob, index: number, field: string): string {
  return `${placeOf(job, index)}.${field}`;
}

/** Turns database constraint violations into the domain's errors. */
function translate(err: unknown): unknown {
  switch (constraintName(err)) {
    case 'containers_tenant_name_key':
      return new AlreadyExistsError('container.name', 'a container with that name already exists');
    case 'containers_group_host_key':
      return new FailedPreconditionError('anti-affinity group already has a member on that host');
    default:
      return err;
  }
}
