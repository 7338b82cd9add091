/**
 * The `placement` benchmark: a real scheduler process, real Postgres and NATS, and thousands of
 * simulated workers (fake drivers) in this process. A placement counts once the scheduler has
 * committed it (addresses, container row, outbox) and the worker's report of it RUNNING is
 * recorded in Postgres — the whole pipeline.
 */
import { readFileSync } from 'node:fs';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { pino } from 'pino';
import { deleteStreams, subjects as buildSubjects } from '@fjord/bus';
import { placementV1 } from '@fjord/proto';
import { Allocator, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { runSimulator, type Simulator } from '@fjord/worker';
import { startSchedulerProcess } from '../support/scheduler-process.js';
import { benchGrpcFloor } from './grpc-floor.js';
import { benchSpec, CLIENT_OPTIONS, placeOne } from './place-request.js';
import { benchPlacementDecision } from './placement-decision.js';
import { cpuMeter, type PhaseCpu } from './cpu-meter.js';
import { stallMeter } from './stall-meter.js';
import { percentiles, round, within } from './measure.js';

const TENANTS = ['t0', 't1', 't2', 't3'];
/** What every simulated host offers: room for the whole run's small containers. */
const SIM_CAPACITY = { cpuMillis: 64_000, memoryBytes: 256 * 2 ** 30, slots: 100 };
/** How long the idle fleet is measured. */
const IDLE_MS = 5000;

/** One line per finished phase on stderr, so a later failure does not hide earlier figures. */
const progress = (line: string): void => void process.stderr.write(`placement bench: ${line}\n`);

/** A phase's CPU by part for its progress line. */
function describeCpu(cpu: PhaseCpu | undefined, per = 'placement'): string {
  if (!cpu) return '';
  return `; cpu ms per ${per}: scheduler ${cpu.scheduler}, postgres ${cpu.postgres}, nats ${cpu.nats}, benchmark ${cpu.bench}; cores ${cpu.machineBusyPct} % busy`;
}

/** A phase's CPU by part as JSON fields (`<phase>_cpu_ms_<per><part>`, `<phase>_machine_busy_pct`). */
function cpuFields(phase: string, cpu: PhaseCpu | undefined, per = ''): Record<string, number> {
  if (!cpu) return {};
  const { machineBusyPct, ...parts } = cpu;
  return { ...Object.fromEntries(Object.entries(parts).map(([part, ms]) => [`${phase}_cpu_ms_${per}${part}`, ms])), [`${phase}_machine_busy_pct`]: machineBusyPct };
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}

async function running(env: TestDatabase): Promise<number> {
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM containers WHERE state = 'RUNNING'`.execute(env.db);
  return rows[0]?.n ?? 0;
}

async function waitRunning(env: TestDatabase, target: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await running(env)) < target) {
    if (Date.now() > deadline) {
      const { rows } = await sql<{ tenant: string; name: string; host: string; state: string; observed: string; desired: string; applied: string; runtime: string }>`
        SELECT c.tenant, c.name, c.host, c.state, c.observed, h.desired_generation AS desired, l.applied_generation AS applied, c.runtime_name AS runtime
        FROM containers c JOIN hosts h ON h.name = c.host LEFT JOIN host_liveness l ON l.name = c.host WHERE c.state <> 'RUNNING' LIMIT 5`.execute(env.db);
      throw new Error(`only ${await running(env)} of ${target} containers reported running after ${timeoutMs} ms; e.g. ${JSON.stringify(rows)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the benchmark with `hosts` simulated hosts for the throughput phases, 10,000 for the memory phase. */
export async function benchPlacement(hosts = 5000, options = { fill: true }): Promise<Record<string, number>> {
  // The pure decision, then the gRPC floor, while nothing else runs: a fill phase's tail (relay,
  // simulators) would otherwise share the cores with them.
  const decision = benchPlacementDecision(10_000);
  const floor = await benchGrpcFloor();
  progress(`grpc floor: ${floor.grpc_floor_calls_per_s} calls/s`);
  const env = await createTestDatabase();
  const nats = natsTestEnv();
  const subjects = buildSubjects(nats.prefix);
  const log = pino({ level: 'warn' });
  let sim: Simulator | undefined;
  let sim2: Simulator | undefined;
  // What is set up before the try below is undone here should a later step of the setup fail.
  // As the simulator's own connection: no stack captured for every request (its hosts' syncs).
  const nc = await connect({ servers: nats.url, noAsyncTraces: true }).catch(async (err: unknown) => {
    await env.drop();
    throw err;
  });
  const scheduler = await startSchedulerProcess({
    replicaId: 'bench',
    databaseUrl: env.url,
    subjectPrefix: nats.prefix,
    config: { physicalNetworks: [{ name: 'physnet1', vlanRanges: '100-3999' }], logLevel: 'warn', databasePoolSize: 20 },
  }).catch(async (err: unknown) => {
    await nc.close();
    await env.drop();
    throw err;
  });
  try {
    await syncPhysicalNetworks(env.db, [{ name: 'physnet1', vlanRanges: '100-3999', reservedVlans: [] }]);
    await syncSubnetPools(env.db, [{ name: 'default', cidr: '10.96.0.0/12', prefixLength: 24 }]);
    const allocator = new Allocator(env.db);
    for (const [i, tenant] of TENANTS.entries()) {
      await allocator.createNetwork({ tenant, name: 'net', physicalNetwork: 'physnet1', cidr: `10.${i}.0.0/16` });
    }
    sim = await runSimulator({ nc, prefix: nats.prefix, hosts, namePrefix: 'sim', log, heartbeatMs: 1000, registerPerSecond: 5000, capacity: SIM_CAPACITY });
    await sim.allRegistered;
    const client = new placementV1.PlacementServiceClient(scheduler.address, credentials.createInsecure(), CLIENT_OPTIONS);
    // Like any client, retry UNAVAILABLE (a leader change): placement is idempotent by name.
    const retrying = async (call: () => Promise<void>) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await call();
        } catch (err) {
          if ((err as ServiceError).code !== status.UNAVAILABLE || attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    };
    // No call carries a deadline (see `placeOne`); each phase has one of its own (`within`).
    const place = (tenant: string, name: string) => retrying(() => placeOne(client, tenant, name));
    const placeBatch = (tenant: string, names: string[]) =>
      retrying(
        () =>
          new Promise<void>((resolve, reject) =>
            client.placeBatch({ containers: names.map((n) => benchSpec(tenant, n)), policy: 'spread' }, (err: ServiceError | null) => (err ? reject(err) : resolve())),
          ),
      );
    let placed = 0;

    // Warm up: connections, JIT, prepared statements.
    await within('warm-up', 60_000, Promise.all(Array.from({ length: 200 }, (_, i) => place('t0', `warm-${i}`))));
    placed += 200;
    await waitRunning(env, placed, 30_000);

    // What the fleet costs with no placement going on (heartbeats, periodic syncs): part of every
    // phase's CPU per placement below. The meter divides by seconds here, so its figures are ms/s.
    const idleMeter = cpuMeter(scheduler.child.pid!);
    const idleStart = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idleCpu = idleMeter?.((performance.now() - idleStart) / 1000);
    progress(`idle, ${hosts} hosts${describeCpu(idleCpu, 'second')}`);

    // 1. Batches: 40 requests of 500, 4 in flight, until all are reported running.
    const batchTotal = 20_000;
    let meter = cpuMeter(scheduler.child.pid!);
    let t0 = performance.now();
    let nextBatch = 0;
    await within('batch phase', 120_000, Promise.all(
      Array.from({ length: 4 }, async () => {
        while (nextBatch < batchTotal / 500) {
          const b = nextBatch++;
          await placeBatch('t1', Array.from({ length: 500 }, (_, i) => `b${b}-${i}`));
        }
      }),
    ));
    placed += batchTotal;
    await waitRunning(env, placed, 120_000);
    const batchPerS = batchTotal / ((performance.now() - t0) / 1000);
    const batchCpu = meter?.(batchTotal);
    progress(`batch: ${Math.round(batchPerS)} placements/s${describeCpu(batchCpu)}`);

    // 2. Single requests, 64 in flight, until all are reported running.
    const singleTotal = 10_000;
    meter = cpuMeter(scheduler.child.pid!);
    t0 = performance.now();
    let nextSingle = 0;
    await within('single phase', 120_000, Promise.all(
      Array.from({ length: 64 }, async () => {
        while (nextSingle < singleTotal) await place('t2', `s${nextSingle++}`);
      }),
    ));
    placed += singleTotal;
    await waitRunning(env, placed, 120_000);
    const singlePerS = singleTotal / ((performance.now() - t0) / 1000);
    const singleCpu = meter?.(singleTotal);
    progress(`single, 64 in flight: ${Math.round(singlePerS)} placements/s${describeCpu(singleCpu)}`);

    // 3. Latency at 500 requests/s offered (open loop, 10 s): from the call to the commit's answer.
    const latencies: number[] = [];
    const offered: Promise<void>[] = [];
    meter = cpuMeter(scheduler.child.pid!);
    const stalls = stallMeter();
    const start = performance.now();
    for (let i = 0; i < 5000; i++) {
      const due = start + i * 2;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      offered.push(place('t3', `l${i}`).then(() => void latencies.push(performance.now() - t)));
    }
    await within('latency phase', 60_000, Promise.all(offered));
    const at500Stalls = stalls();
    placed += 5000;
    await waitRunning(env, placed, 60_000);
    const at500 = percentiles(latencies);
    const at500Cpu = meter?.(5000);
    const rssAfterThroughput = rssMb(scheduler.child.pid!);
    progress(
      `at 500/s offered: p50 ${round(at500.p50)} ms, p99 ${round(at500.p99)} ms; scheduler rss ${rssAfterThroughput} MB${describeCpu(at500Cpu)}; ` +
        `benchmark process: GC ${at500Stalls.gcPauseMsPerS} ms/s (longest ${at500Stalls.gcPauseMaxMs} ms), event loop delay p99 ${at500Stalls.loopDelayP99Ms} ms (max ${at500Stalls.loopDelayMaxMs} ms)`,
    );

    // 4. Memory at 10,000 hosts and 200,000 containers.
    const more = options.fill ? Math.max(0, 10_000 - hosts) : 0;
    if (more > 0) {
      sim2 = await runSimulator({ nc, prefix: nats.prefix, hosts: more, namePrefix: 'sim2', log, heartbeatMs: 1000, registerPerSecond: 5000, capacity: SIM_CAPACITY });
      await sim2.allRegistered;
    }
    let nextFill = 0;
    const fillTotal = options.fill ? 200_000 - placed : 0;
    await within('fill phase', 900_000, Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const b = nextFill++;
          const from = b * 1000;
          if (from >= fillTotal) return;
          const count = Math.min(1000, fillTotal - from);
          const tenant = TENANTS[b % TENANTS.length]!;
          await placeBatch(tenant, Array.from({ length: count }, (_, i) => `f${b}-${i}`));
        }
      }),
    ));
    placed += fillTotal;
    await waitRunning(env, placed, 300_000);
    const rss = rssMb(scheduler.child.pid!);
    progress(`${hosts + more} hosts, ${placed} containers: scheduler rss ${rss} MB`);
    client.close();
    return {
      hosts,
      batch_placements_per_s: Math.round(batchPerS),
      single_placements_per_s: Math.round(singlePerS),
      p50_ms_at_500: round(at500.p50),
      p99_ms_at_500: round(at500.p99),
      ...cpuFields('idle', idleCpu, 'per_s_'),
      ...cpuFields('batch', batchCpu),
      ...cpuFields('single', singleCpu),
      ...cpuFields('at_500', at500Cpu),
      at_500_bench_gc_pause_ms_per_s: at500Stalls.gcPauseMsPerS,
      at_500_bench_gc_pause_max_ms: at500Stalls.gcPauseMaxMs,
      at_500_bench_loop_delay_p99_ms: at500Stalls.loopDelayP99Ms,
      at_500_bench_loop_delay_max_ms: at500Stalls.loopDelayMaxMs,
      scheduler_rss_mb_after_throughput: rssAfterThroughput,
      ...(options.fill ? { scheduler_rss_mb: rss } : {}),
      containers_total: placed,
      hosts_total: hosts + more,
      // Deltas a simulated host could not apply (it had missed one) and answered with a sync.
      sim_gap_syncs: sim!.counters().gaps + (sim2?.counters().gaps ?? 0),
      ...floor,
      decision_p50_ms_10k_hosts: decision.decision_p50_ms_10k_hosts ?? 0,
      decision_p99_ms_10k_hosts: decision.decision_p99_ms_10k_hosts ?? 0,
    };
  } catch (err) {
    const tail = scheduler.output().trim().split('\n').slice(-30).join('\n');
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nscheduler's last log lines:\n${tail}`, { cause: err });
  } finally {
    await sim?.stop();
    await sim2?.stop();
    await scheduler.stop();
    await deleteStreams(nc, subjects);
    await nc.close();
    await env.drop();
  }
}
