/**
 * The `grpc-floor` benchmark: the machine's ceiling for single placement requests. The placement
 * benchmark's client (same grpc-js client, same request, 64 in flight, no deadline) calls a server
 * process whose `place` answers at once, with nothing else running. No pipeline behind the same
 * client can answer faster than this, so a placement figure is best read beside this one, measured
 * on the same boot: the machine's speed has moved figures by a factor of two between boots.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { credentials } from '@grpc/grpc-js';
import { placementV1 } from '@fjord/proto';
import { processCpuMs } from './cpu-meter.js';
import { within } from './measure.js';
import { CLIENT_OPTIONS, placeOne } from './place-request.js';

const IN_FLIGHT = 64;
const WARM_UP_CALLS = 5_000;
const CALLS = 20_000;

/** Calls per second through the bare gRPC path, and each side's CPU per call. */
export async function benchGrpcFloor(): Promise<Record<string, number>> {
  // The child runs under the same loader (tsx) as this process.
  let client: placementV1.PlacementServiceClient | undefined;
  const server = fork(fileURLToPath(new URL('./grpc-floor-server.ts', import.meta.url)), [], { execArgv: process.execArgv });
  try {
    const [{ port }] = (await within(
      'starting the grpc-floor server',
      30_000,
      Promise.race([
        once(server, 'message'),
        once(server, 'exit').then(([code]) => Promise.reject(new Error(`grpc-floor server exited with code ${code} before listening`))),
      ]),
    )) as [{ port: number }];
    const c = (client = new placementV1.PlacementServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), CLIENT_OPTIONS));
    const run = async (calls: number) => {
      let next = 0;
      await within(`${calls} calls`, 120_000, Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < calls) await placeOne(c, 't2', `s${next++}`);
      })));
    };
    await run(WARM_UP_CALLS);
    const clientStart = process.cpuUsage();
    const serverStart = processCpuMs(server.pid!);
    const t0 = performance.now();
    await run(CALLS);
    const seconds = (performance.now() - t0) / 1000;
    const clientCpu = process.cpuUsage(clientStart);
    const serverEnd = processCpuMs(server.pid!);
    const perCall = (ms: number) => Math.round((ms / CALLS) * 1000) / 1000;
    return {
      grpc_floor_calls_per_s: Math.round(CALLS / seconds),
      grpc_floor_client_cpu_ms_per_call: perCall((clientCpu.user + clientCpu.system) / 1000),
      // The server's CPU is read from /proc: Linux only.
      ...(serverStart !== undefined && serverEnd !== undefined && { grpc_floor_server_cpu_ms_per_call: perCall(serverEnd - serverStart) }),
    };
  } finally {
    client?.close();
    server.kill();
  }
}
