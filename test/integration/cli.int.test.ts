import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, subjects as buildSubjects } from '@fjord/bus';
import type { Scheduler } from '@fjord/scheduler';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { heartbeatFakeHosts, registerFakeHost } from '../support/fake-hosts.js';
import { seedPhysicalNetwork, startScheduler } from '../support/placement-setup.js';
import { startService } from '../../services/cli/src/demo/processes.js';
import { runFjordctl, type FjordctlRun } from '../support/fjordctl.js';

const nats = natsTestEnv();
let env: TestDatabase;
let scheduler: Scheduler;
let nc: NatsConnection;
let stopHeartbeats: (() => void) | undefined;
/** The last test stops the scheduler. */
let stopped = false;

/** Runs fjordctl against the test scheduler; resolves with stdout, stderr and the exit code. */
function fjordctl(...args: string[]): Promise<FjordctlRun> {
  return runFjordctl(['--server', `127.0.0.1:${scheduler.port}`, ...args]);
}

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  scheduler = await startScheduler(env.db, nats, { heartbeatIntervalMs: 1000 });
  nc = await connect({ servers: nats.url });
  const epoch = await registerFakeHost(nc, buildSubjects(nats.prefix), 'hv1', { zone: 'a' });
  stopHeartbeats = heartbeatFakeHosts(nc, buildSubjects(nats.prefix), [{ host: 'hv1', epoch }]);
});

afterAll(async () => {
  stopHeartbeats?.();
  if (!stopped) await scheduler?.stop();
  if (nc) {
    await deleteStreams(nc, buildSubjects(nats.prefix));
    await nc.close();
  }
  await env?.drop();
});

describe('fjordctl', () => {
  it('creates, shows and lists a network as a table and as JSON', async () => {
    const created = await fjordctl('networks', 'create', '--tenant', 'acme', '--name', 'web', '--cidr', '10.1.0.0/24');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/vlan:\s+1\d\d/);
    const listed = await fjordctl('--json', 'networks', 'list', '--tenant', 'acme');
    const networks = JSON.parse(listed.stdout) as { name: string; cidr: string }[];
    expect(networks.map((n) => [n.name, n.cidr])).toEqual([['web', '10.1.0.0/24']]);
  });

  it('allocates, lists and releases addresses', async () => {
    const allocated = await fjordctl('ips', 'allocate', '--tenant', 'acme', '--network', 'web', '--count', '3');
    expect(allocated.stdout.trim().split('\n')).toEqual(['10.1.0.2', '10.1.0.3', '10.1.0.4']);
    expect((await fjordctl('ips', 'release', '--tenant', 'acme', '--network', 'web', '10.1.0.3')).code).toBe(0);
    const listed = await fjordctl('ips', 'list', '--tenant', 'acme', '--network', 'web');
    expect(listed.stdout).toContain('10.1.0.4');
    expect(listed.stdout).not.toContain('10.1.0.3');
  });

  it('places containers and lists them with their host, VLAN and address', async () => {
    const placed = await fjordctl('place', '--tenant', 'acme', '--network', 'web', '--name', 'api', '--cpu', '500m', '--memory', '256Mi', '--count', '2');
    expect(placed.code).toBe(0);
    expect(placed.stdout).toMatch(/api-1\s+hv1/);
    const listed = await fjordctl('--json', 'containers', 'list', '--tenant', 'acme');
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBe(2);
    const hosts = await fjordctl('hosts', 'list');
    expect(hosts.stdout).toMatch(/hv1\s+READY\s+zone=a/);
  });

  it('prints the server\'s reason and exits non-zero when a request is refused', async () => {
    const bad = await fjordctl('networks', 'create', '--tenant', 'acme', '--name', 'bad', '--cidr', '10.0.0.0/33');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT: cidr/);
    const impossible = await fjordctl('place', '--tenant', 'acme', '--network', 'web', '--name', 'big', '--cpu', '1000', '--memory', '1Mi');
    expect(impossible.stderr).toMatch(/RESOURCE_EXHAUSTED/);
    expect(impossible.stderr).toMatch(/cpu/);
    const badOption = await fjordctl('place', '--tenant', 'acme', '--network', 'web', '--name', 'x', '--memory', 'lots');
    expect(badOption.code).not.toBe(0);
    expect(badOption.stderr).toMatch(/memory/);
  });

  it('simulates hosts with the capacity asked for, and prints its counters when stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fjord-cli-sim-'));
    try {
      const sim = await startService({
        name: 'fjordctl sim',
        entry: 'services/cli/src/main.ts',
        args: ['sim', '--hosts', '2', '--nats', nats.url, '--prefix', nats.prefix, '--name-prefix', 'simcap', '--cpu', '4', '--memory', '8Gi', '--slots', '7'],
        logFile: join(dir, 'sim.log'),
        readyText: 'all 2 hosts registered',
      });
      let listed: FjordctlRun;
      try {
        listed = await fjordctl('--json', 'hosts', 'list');
      } finally {
        await sim.stop(10_000);
      }
      const hosts = (JSON.parse(listed.stdout) as { name: string; cpuMillisCapacity: number; memoryBytesCapacity: string; slotsCapacity: number }[]).filter((h) => h.name.startsWith('simcap-'));
      expect(hosts.map((h) => [h.name, h.cpuMillisCapacity, String(h.memoryBytesCapacity), h.slotsCapacity])).toEqual([
        ['simcap-00000', 4000, String(8 * 2 ** 30), 7],
        ['simcap-00001', 4000, String(8 * 2 ** 30), 7],
      ]);
      expect(sim.child.exitCode).toBe(0);
      expect(sim.tail(Infinity)).toMatch(/stopped; registered 2\/2 .* gaps 0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('marks the options a command requires in its help', async () => {
    const help = await fjordctl('place', '--help');
    expect(help.code).toBe(0);
    const line = (option: string) => help.stdout.split('\n').find((l) => l.trimStart().startsWith(option)) ?? '';
    expect(line('--tenant')).toMatch(/\(required\)$/);
    expect(line('--name')).toMatch(/\(required\)$/);
    expect(line('--cpu')).not.toMatch(/required/);
  });

  it('says the scheduler is unreachable instead of hanging', async () => {
    const { stderr, code } = await runFjordctl(['--server', '127.0.0.1:1', 'networks', 'list']);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/cannot reach the scheduler at 127.0.0.1:1/);
    const watched = await runFjordctl(['--server', '127.0.0.1:1', 'watch']);
    expect(watched.code).not.toBe(0);
    expect(watched.stderr).toMatch(/cannot reach the scheduler at 127.0.0.1:1 \(connect ECONNREFUSED/);
  });

  it('gives up watching a server that never answers, instead of hanging', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { stderr, code } = await runFjordctl(['--server', `127.0.0.1:${(silent.address() as AddressInfo).port}`, 'watch']);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/cannot reach the scheduler at 127\.0\.0\.1:\d+ \(no answer within 10 s\)/);
    } finally {
      silent.close();
    }
  }, 30_000);

  it('watches from the first event with --since 0, stops on Ctrl-C, and fails when the scheduler ends the stream', async () => {
    const first = await watchFirstLine(['--json', 'watch', '--since', '0']);
    expect(JSON.parse(first.line)).toMatchObject({ sequence: 1, kind: 'host.registered', subject: 'hv1' });
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);

    const ended = await watchFirstLine(['--json', 'watch', '--since', '0']);
    await scheduler.stop();
    stopped = true;
    expect(await ended.exited).not.toBe(0);
    // As it stops, the scheduler cancels the stream or drops the connection: either is reported.
    expect(ended.stderr()).toMatch(/the scheduler at 127\.0\.0\.1:\d+ ended the stream of events \(.*\); did it stop\?|cannot reach the scheduler at 127\.0\.0\.1:\d+/);
  });
});

/** Starts `fjordctl <args>` against the test scheduler and resolves once it printed a first line. */
async function watchFirstLine(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', '--server', `127.0.0.1:${scheduler.port}`, ...args], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    void exited.then(() => reject(new Error(`fjordctl ${args.join(' ')} exited before printing a line: ${err}`)));
  });
  return { child, line, exited, stderr: () => err };
}
