/**
 * The placement engine alone, in process: how long one decision (filter → score → choose over the
 * whole fleet) takes on a snapshot of `hosts` hosts with zone/rack labels, mixed usage, some hosts
 * not ready, two physical networks, and requests with constraints and anti-affinity groups.
 */
import {
  applyPlan,
  buildPlacementSnapshot,
  mockHosts,
  mockPlacementRequest,
  place,
  type GroupMembers,
  type PlacementPolicy,
  type PlacementRequest,
  type PlacementSnapshot,
} from '@fjord/core';

const MiB = 2 ** 20;

/** Builds the benchmark fleet: `hosts` hosts over 3 zones and 1 rack per 40 hosts, deterministic. */
export function benchFleet(hosts: number): PlacementSnapshot {
  const fleet = mockHosts(hosts, (i) => {
    const mix = (i * 7919) % 100; // deterministic spread of usage without randomness
    return {
      labels: { zone: `z${i % 3}`, rack: `r${Math.floor(i / 40)}` },
      cpu: 32,
      memoryGi: 128,
      slots: 110,
      usedCpu: (mix % 30) + 0.5,
      usedMemoryGi: mix,
      usedSlots: mix,
      physicalNetworks: i % 10 === 0 ? ['physnet1', 'physnet2'] : ['physnet1'],
      state: i % 97 === 0 ? 'CORDONED' : i % 89 === 0 ? 'DOWN' : 'READY',
    };
  });
  const groups: Record<string, string[]> = {};
  for (let g = 0; g < 50; g++) groups[`ha-${g}`] = [fleet[(g * 131) % hosts]!.id, fleet[(g * 257 + 3) % hosts]!.id];
  return buildPlacementSnapshot(fleet, groups satisfies GroupMembers);
}

/** The request mix: plain, constrained (`zone=z1`, `rack!=r3`), and anti-affinity members spread by rack. */
function benchRequest(seq: number): PlacementRequest {
  const kind = seq % 4;
  return mockPlacementRequest({
    name: `c${seq}`,
    cpuMillis: 250 + (seq % 8) * 250,
    memoryBytes: (256 + (seq % 4) * 256) * MiB,
    constraints:
      kind === 1
        ? [{ label: 'zone', op: '=', value: `z${seq % 3}` }]
        : kind === 2
          ? [
              { label: 'zone', op: '!=', value: 'z0' },
              { label: 'rack', op: '!=', value: 'r3' },
            ]
          : [],
    ...(kind === 3 ? { antiAffinityGroup: `ha-${seq % 50}`, spreadLabel: 'rack' } : {}),
  });
}

function percentile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Measures single placement decisions over a `hosts`-host snapshot, both scoring policies, and
 * returns p50/p99 milliseconds per decision and decisions per second (decision time only; each
 * plan is applied to the snapshot between decisions, timed apart as `apply_plan_p50_ms_10k_hosts`).
 */
export function benchPlacementDecision(hosts = 10_000, decisionsPerPolicy = 2_500): Record<string, number> {
  // As the scheduler decides: every host's heartbeat checked (all fresh here, at `now` 0).
  const policies: PlacementPolicy[] = [
    { scoring: 'binpack', maxHeartbeatAgeMs: 5000 },
    { scoring: 'spread', maxHeartbeatAgeMs: 5000 },
  ];
  const samples = new Float64Array(decisionsPerPolicy * policies.length);
  const cpuSamples = new Float64Array(decisionsPerPolicy * policies.length);
  const applySamples = new Float64Array(decisionsPerPolicy * policies.length);
  let applied = 0;
  let taken = 0;
  let failed = 0;
  let busy = 0;
  for (const policy of policies) {
    let snapshot = benchFleet(hosts);
    for (let w = 0; w < 200; w++) place(snapshot, benchRequest(w), 0, policy); // warm up the JIT
    for (let d = 0; d < decisionsPerPolicy; d++) {
      const request = benchRequest(d);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const result = place(snapshot, request, 0, policy);
      const elapsed = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      cpuSamples[taken] = (cpu.user + cpu.system) / 1000;
      samples[taken++] = elapsed;
      busy += elapsed;
      if (result.ok) {
        const t1 = performance.now();
        snapshot = applyPlan(snapshot, result.plan);
        applySamples[applied++] = performance.now() - t1;
      } else failed++;
    }
  }
  const sorted = samples.slice(0, taken).sort();
  const applySorted = applySamples.slice(0, applied).sort();
  const cpuSorted = cpuSamples.slice(0, taken).sort();
  return {
    decision_p50_ms_10k_hosts: round3(percentile(sorted, 0.5)),
    decision_p99_ms_10k_hosts: round3(percentile(sorted, 0.99)),
    decisions_per_s: Math.round(taken / (busy / 1000)),
    // CPU time of the process per decision: tells the engine's own cost from time lost to other
    // processes on a busy machine (wall-clock p99 includes being descheduled).
    decision_cpu_p99_ms_10k_hosts: round3(percentile(cpuSorted, 0.99)),
    decisions_failed: failed,
    apply_plan_p50_ms_10k_hosts: round3(percentile(applySorted, 0.5)),
    hosts,
  };
}
