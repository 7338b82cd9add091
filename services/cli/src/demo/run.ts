/**
 * `fjordctl demo`: Fjord's main job on one machine, start to finish. A scheduler on its own database
 * and NATS prefix; a lab of real hosts with a worker process each (root), or simulated hosts where
 * the lab cannot run; two tenants' networks on the same subnet; their containers placed across
 * hosts; isolation proven with packets; the placements deleted; and everything the demo made removed
 * on the way out, also on Ctrl-C, SIGTERM, a hang-up or a failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labPrerequisiteProblem, labStatus, type LabRef } from '@fjord/lab';
import { callUnary, connect } from '../client.js';
import { formatTable } from '../output.js';
import { startControlPlane } from './control-plane.js';
import { demoPostgres } from './postgres.js';
import { waitForHosts } from './wait.js';
import { startLabFleet, startSimulatedFleet, type Fleet } from './fleet.js';
import { createNetworks, DEMO_CIDR, DEMO_TENANTS, placeContainers, proveIsolation, waitRunning, type DemoContainer, type Proof } from './scenario.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  hosts: number;
  /** Simulated hosts even where the lab could run. */
  simulate: boolean;
  /** Lab name; also the NATS subject prefix and the database name stem. */
  name: string;
  grpcPort: number;
  postgresUrl: string;
  natsUrl: string;
  /** Progress lines for a human (silent with --json). */
  say: (line: string) => void;
}

/** What the demo did and saw. */
export interface DemoResult {
  fleet: 'lab' | 'simulator';
  /** Whether the demo ran on an embedded Postgres (none answered at its URL). */
  embeddedPostgres: boolean;
  /** Why the lab was not used, when it was not. */
  labProblem: string | null;
  hosts: string[];
  vlans: Record<string, number>;
  containers: DemoContainer[];
  proofs: Proof[];
  /** Containers left on the lab's hosts after the placements were deleted (0 when the workers cleaned up). */
  leftAfterDelete: number;
}

/** The signals on which the demo removes what it made and exits (with 128 + the signal's number). */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs the demo; resolves with what it saw, after removing everything it made. */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  let hungUp = false;
  const say = (line: string): void => {
    if (!hungUp) opts.say(line);
  };
  const dir = await mkdtemp(join(tmpdir(), 'fjord-demo-'));
  // Undone in reverse order. The demo's files (logs) go last, and stay after a failure for a look.
  const cleanups: { what: string; run: () => Promise<void> }[] = [];
  let keepLogs = true;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      const files = keepLogs ? [] : [{ what: `the demo's files (${dir})`, run: () => rm(dir, { recursive: true, force: true }) }];
      for (const c of [...cleanups.reverse(), ...files]) {
        await c.run().then(
          () => say(`  removed ${c.what}`),
          (err: unknown) => say(`  could not remove ${c.what}: ${err instanceof Error ? err.message : String(err)}`),
        );
      }
    })());
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    // Once: a hang-up often comes twice (from the shell, then from the kernel).
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: removing everything the demo made`);
    keepLogs = false;
    void cleanup().finally(() => process.exit(128 + constants.signals[signal]));
  };
  // SIGHUP too: a closed terminal or dropped SSH session would otherwise leave it all running.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') hungUp = true;
    stop(signal);
  };
  // Output that can no longer be written (EIO on a hung-up terminal, EPIPE on a closed pipe)
  // stops the demo as a broken pipe would, quietly, but with its cleanup.
  const onOutputError = (): void => {
    hungUp = true;
    stop('SIGPIPE');
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  for (const stream of [process.stdout, process.stderr]) stream.on('error', onOutputError);
  try {
    const pg = await demoPostgres(opts.postgresUrl, say);
    if (pg.embedded) cleanups.push({ what: 'the embedded Postgres', run: () => pg.stop() });
    say(`== control plane: database ${opts.name}_db on ${new URL(pg.url).host}${pg.embedded ? ' (embedded)' : ''}, NATS ${opts.natsUrl} (prefix ${opts.name})`);
    const cp = await startControlPlane({ dir, postgresUrl: pg.url, natsUrl: opts.natsUrl, name: opts.name, grpcPort: opts.grpcPort });
    cleanups.push({ what: 'the scheduler, its streams and its database', run: () => cp.stop() });
    say(`  scheduler serving gRPC on ${cp.server} (log ${cp.scheduler.logFile})`);

    const labProblem = opts.simulate ? 'simulation asked for (--simulate)' : labPrerequisiteProblem();
    const lab: LabRef = { name: opts.name };
    const fleetOptions = { dir, hosts: opts.hosts, natsUrl: opts.natsUrl, prefix: opts.name, lab };
    let fleet: Fleet;
    if (labProblem === null) {
      say(`== fleet: a lab of ${opts.hosts} hosts (namespaces ${opts.name}-hv1..), each with its own Open vSwitch, LXC path and worker process`);
      fleet = await startLabFleet(fleetOptions);
      cleanups.push({ what: `the lab ${opts.name} (workers, containers, switches, namespaces)`, run: () => fleet.stop() });
    } else {
      say(`== fleet: ${opts.hosts} SIMULATED hosts (in-memory drivers), because the lab cannot run here: ${labProblem}`);
      fleet = await startSimulatedFleet(fleetOptions);
      cleanups.push({ what: 'the simulated hosts', run: () => fleet.stop() });
    }

    const clients = connect(cp.server);
    cleanups.push({ what: 'the gRPC connection', run: async () => clients.close() });
    await waitForHosts(clients, fleet.hosts, 60_000);
    say(`  hosts ready: ${fleet.hosts.join(', ')}`);

    say(`== two tenants, one subnet: network "web" ${DEMO_CIDR} for ${DEMO_TENANTS.map((t) => t.tenant).join(' and ')}`);
    const vlans = await createNetworks(clients);
    for (const [tenant, vlan] of vlans) say(`  ${tenant}/web: VLAN ${vlan}`);

    say(`== placing ${DEMO_TENANTS.map((t) => `${t.containers} ${t.tenant}`).join(' and ')} containers (anti-affinity: one per host per tenant)`);
    await placeContainers(clients);
    const containers = await waitRunning(clients, fleet.kind === 'lab' ? 180_000 : 30_000);
    say(formatTable(['tenant', 'container', 'host', 'vlan', 'address', 'state'], containers.map((c) => [c.tenant, c.name, c.host, c.vlan, c.address, c.state])));

    let proofs: Proof[] = [];
    if (fleet.lab) {
      say('== isolation, proven with packets');
      proofs = await proveIsolation(fleet.lab, lab, containers);
      for (const p of proofs) say(`  ${p.ok ? 'ok  ' : 'FAIL'} ${p.claim}\n       ${p.evidence}`);
    } else {
      say('== isolation: not proven here (simulated hosts carry no packets; run as root on Debian/Ubuntu for the lab)');
    }

    say('== deleting the placements: the workers remove their containers and ports');
    for (const c of containers) {
      await callUnary(clients, clients.placement, clients.placement.deleteContainer, { tenant: c.tenant, name: c.name });
    }
    const leftAfterDelete = fleet.lab ? await waitLabEmpty(lab, 60_000) : 0;
    if (fleet.lab) say(`  containers left on the lab's hosts: ${leftAfterDelete}`);

    const failed = proofs.some((p) => !p.ok) || leftAfterDelete > 0;
    keepLogs = failed;
    say(`== ${failed ? `FAILED (logs kept in ${dir})` : 'done'}; cleaning up`);
    return { fleet: fleet.kind, embeddedPostgres: pg.embedded, labProblem, hosts: fleet.hosts, vlans: Object.fromEntries(vlans), containers, proofs, leftAfterDelete };
  } catch (err) {
    if (keepLogs) say(`== FAILED (logs kept in ${dir}); cleaning up`); // not after Ctrl-C
    throw err;
  } finally {
    await cleanup();
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    for (const stream of [process.stdout, process.stderr]) stream.off('error', onOutputError);
  }
}

/** Waits until no host of the lab has a container; returns how many are left at the deadline. */
async function waitLabEmpty(lab: LabRef, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = (await labStatus(lab)).hosts.reduce((n, h) => n + h.containers.length, 0);
    if (left === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 300));
  }
}
