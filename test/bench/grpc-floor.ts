/**
 * The `grpc-floor` benchmark: the machine's ceiling for single placement requests. The placement
 * benchmark's client (same grpc-js client, same request, 64 in flight, no deadline) calls a server
 * process whose `place` answers at once, with nothing else running. No pipeline behind the same
 * client can answer faster than this, so a placement figure is best read beside this one, measured
 * on the same boot: the machine's speed has moved figures by a factor of two between boots.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { placementV1 } from '@fjord/proto';

const IN_FLIGHT = 64;
const WARM_UP_CALLS = 5_000;
const CALLS = 20_000;

/** CPU milliseconds a process has used (utime + stime, 100 ticks a second). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Calls per second through the bare gRPC path, and each side's CPU per call. */
export async function benchGrpcFloor(): Promise<Record<string, number>> {
  // The child runs under the same loader (tsx) as this process.
  const server = fork(fileURLToPath(new URL('./grpc-floor-server.ts', import.meta.url)), [], { execArgv: process.execArgv });
  try {
    const [{ port }] = (await Promise.race([
      once(server, 'message'),
      once(server, 'exit').then(([code]) => Promise.reject(new Error(`grpc-floor server exited with code ${code} before listening`))),
    ])) as [{ port: number }];
    const client = new placementV1.PlacementServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const request: placementV1.PlaceRequest = {
      container: { tenant: 't2', name: '', network: 'net', template: '', cpuMillis: 10, memoryBytes: 16n * 2n ** 20n, constraints: [], antiAffinityGroup: '', spreadLabel: '', command: '' },
      policy: 'spread',
    };
    const place = (name: string) =>
      new Promise<void>((resolve, reject) =>
        client.place({ ...request, container: { ...request.container!, name } }, (err: ServiceError | null) => (err ? reject(err) : resolve())),
      );
    const run = async (calls: number) => {
      let next = 0;
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < calls) await place(`s${next++}`);
      }));
    };
    await run(WARM_UP_CALLS);
    const clientStart = process.cpuUsage();
    const serverStart = processCpuMs(server.pid!);
    const t0 = performance.now();
    await run(CALLS);
    const seconds = (performance.now() - t0) / 1000;
    const clientCpu = process.cpuUsage(clientStart);
    const serverMs = processCpuMs(server.pid!) - serverStart;
    client.close();
    return {
      grpc_floor_calls_per_s: Math.round(CALLS / seconds),
      grpc_floor_client_cpu_ms_per_call: Math.round(((clientCpu.user + clientCpu.system) / 1000 / CALLS) * 1000) / 1000,
      grpc_floor_server_cpu_ms_per_call: Math.round((serverMs / CALLS) * 1000) / 1000,
    };
  } finally {
    server.kill();
  }
}
