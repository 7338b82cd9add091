/**
 * The control-plane relay: how a lab partitions a host's worker from the control plane while its
 * data plane keeps running.
 *
 * Workers run as ordinary processes in the machine's namespace (their drivers enter the host's
 * namespace per command), and reach the control plane (NATS, or anything else named in `lab up`)
 * only through this relay: one TCP listener on 127.0.0.1 per host and route, forwarding to the real
 * target. Partitioning a host makes its listeners drop every open connection and close each new
 * one at once; healing lets them through again. One relay process per lab, started detached by
 * `labUp`, reads the partitioned hosts from the lab's state file on start and on SIGHUP.
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';

/** One control-plane service the workers reach through the relay. */
export interface RelayRoute {
  /** Route name, e.g. `nats`. */
  name: string;
  /** Where it really is, `host:port`, e.g. `127.0.0.1:4222`. */
  target: string;
}

/** `<labDir>/relay.json`: what the relay serves. */
export interface RelayConfig {
  hosts: string[];
  routes: RelayRoute[];
}

/** `<labDir>/relay-ports.json`: where each host's routes listen, by host then route name. */
export type RelayPorts = Record<string, Record<string, number>>;

/** Files the relay uses under a lab directory. */
export function relayFiles(labDir: string) {
  return {
    config: join(labDir, 'relay.json'),
    ports: join(labDir, 'relay-ports.json'),
    pid: join(labDir, 'relay.pid'),
    log: join(labDir, 'relay.log'),
    /** How many times the relay has (re)read the state file; bumped after each SIGHUP is applied. */
    ack: join(labDir, 'relay-ack'),
    state: join(labDir, 'lab.json'),
  };
}

/** Splits `host:port`. */
export function parseTarget(target: string): { host: string; port: number } {
  const i = target.lastIndexOf(':');
  const port = Number(target.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad relay target ${JSON.stringify(target)}: want host:port`);
  return { host: target.slice(0, i), port };
}

/** Runs the relay for the lab in `labDir` until killed (the detached process's main). */
export async function runRelay(labDir: string): Promise<void> {
  const files = relayFiles(labDir);
  const config = JSON.parse(readFileSync(files.config, 'utf8')) as RelayConfig;
  const conns = new Map<string, Set<Socket>>(config.hosts.map((h) => [h, new Set()]));
  let partitioned = new Set<string>();
  let reloads = 0;
  const reload = () => {
    try {
      const state = JSON.parse(readFileSync(files.state, 'utf8')) as { partitioned?: string[]; killed?: string[] };
      partitioned = new Set([...(state.partitioned ?? []), ...(state.killed ?? [])]);
    } catch {
      partitioned = new Set();
    }
    for (const h of partitioned) for (const s of conns.get(h) ?? []) s.destroy();
    writeFileSync(files.ack, `${++reloads}\n`);
  };
  reload();
  process.on('SIGHUP', reload);
  process.on('SIGTERM', () => process.exit(0));

  const ports: RelayPorts = {};
  for (const host of config.hosts) {
    ports[host] = {};
    for (const route of config.routes) {
      const target = parseTarget(route.target);
      const server = createServer((client) => {
        if (partitioned.has(host)) {
          client.destroy();
          return;
        }
        const upstream = connect(target.port, target.host);
        const pair = conns.get(host)!;
        pair.add(client);
        pair.add(upstream);
        const close = () => {
          client.destroy();
          upstream.destroy();
          pair.delete(client);
          pair.delete(upstream);
        };
        client.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const addr = server.address();
      ports[host][route.name] = typeof addr === 'object' && addr ? addr.port : 0;
    }
  }
  writeFileSync(`${files.ports}.tmp`, JSON.stringify(ports, null, 2) + '\n');
  renameSync(`${files.ports}.tmp`, files.ports);
}
