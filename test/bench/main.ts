/**
 * `npm run bench -- <scenario> [--json] [options]`: runs one benchmark and prints its figures; with
 * `--json` the last line is one JSON object. Benchmarks measure speed; tests never time things.
 */
import { parseArgs } from 'node:util';

interface Scenario {
  summary: string;
  run(options: Record<string, string | boolean | undefined>): Promise<Record<string, number | string>>;
}

const numberOption = (value: string | boolean | undefined, fallback: number): number => {
  if (value === undefined || typeof value === 'boolean') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive whole number, got "${value}"`);
  return n;
};

const scenarios: Record<string, Scenario> = {
  allocator: {
    summary: 'IP/VLAN allocation through the library and through gRPC, on real Postgres',
    run: async () => (await import('./allocator.js')).benchAllocator(),
  },
  placement: {
    summary: 'placements/s and latency through a scheduler process to simulated workers (--hosts N, default 5000; --skip-fill leaves out the 10,000-host memory phase)',
    run: async (o) => (await import('./placement.js')).benchPlacement(numberOption(o.hosts, 5000), { fill: o['skip-fill'] !== true }),
  },
  'grpc-floor': {
    summary: 'the ceiling for single placement requests: the placement benchmark\'s client against a server that answers at once',
    run: async () => (await import('./grpc-floor.js')).benchGrpcFloor(),
  },
  'placement-decision': {
    summary: 'the pure placement engine alone over a 10,000-host snapshot',
    run: async (o) => (await import('./placement-decision.js')).benchPlacementDecision(numberOption(o.hosts, 10_000)),
  },
  ovs: {
    summary: 'programming OVS ports in batches as the port count grows (--ports N, default 2000; root)',
    run: async (o) => (await import('./ovs.js')).benchOvs(numberOption(o.ports, 2000)),
  },
  'lab-start': {
    summary: 'containers placed through the scheduler and running with networking, per second, on a 3-host lab with worker processes (--containers N, default 100; root)',
    run: async (o) => (await import('./lab-start.js')).benchLabStart(numberOption(o.containers, 100)),
  },
};

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
      hosts: { type: 'string' },
      ports: { type: 'string' },
      containers: { type: 'string' },
      'skip-fill': { type: 'boolean', default: false },
    },
  });
  const name = positionals[0];
  const scenario = name ? scenarios[name] : undefined;
  if (values.help || !scenario) {
    console.log('usage: npm run bench -- <scenario> [--json] [--hosts N] [--ports N] [--containers N] [--skip-fill]\n\nscenarios:');
    for (const [key, s] of Object.entries(scenarios)) console.log(`  ${key.padEnd(20)} ${s.summary}`);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const options: Record<string, string | boolean | undefined> = { ...values };
  for (const key of ['hosts', 'ports', 'containers']) {
    if (options[key] !== undefined) options[key] = String(numberOption(options[key], 0));
  }
  const result = await scenario.run(options);
  if (values.json) {
    console.log(JSON.stringify({ scenario: name, ...result }));
  } else {
    for (const [key, value] of Object.entries(result)) console.log(`${key.padEnd(28)} ${value}`);
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
