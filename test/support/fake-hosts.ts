/**
 * Registers hosts, and sends their heartbeats, over the real worker protocol without running
 * workers, for tests of the scheduler alone (placement does not need a worker to answer).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { decode, encode, HostVerb, type Subjects } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';

/** Registers `host` and returns its epoch, retrying while no leader answers (up to `timeoutMs`). */
export async function registerFakeHost(
  nc: NatsConnection,
  subjects: Subjects,
  host: string,
  labels: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const reply = await nc.request(
        subjects.host(host, HostVerb.Register),
        encode(workerV1.RegisterHostRequest, {
          host,
          labels,
          cpuMillis: 64_000,
          memoryBytes: 256n * 2n ** 30n,
          slots: 10_000,
          physicalNetworks: ['physnet1'],
          agentVersion: 'test',
          acceptsDeltas: false,
        }),
        { timeout: 2000 },
      );
      const body = decode(workerV1.RegisterHostReply, 'RegisterHostReply', reply.subject, reply.data);
      if (body.error) throw new Error(body.error);
      return Number(body.epoch);
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`register ${host}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Sends each host's heartbeat every `intervalMs` until the returned function is called: placement
 * skips a host not heard from for the scheduler's `hostStaleAfterMs`.
 */
export function heartbeatFakeHosts(nc: NatsConnection, subjects: Subjects, hosts: readonly { host: string; epoch: number }[], intervalMs = 500): () => void {
  const beat = () => {
    for (const { host, epoch } of hosts) {
      nc.publish(subjects.host(host, HostVerb.Heartbeat), encode(workerV1.Heartbeat, { host, epoch: BigInt(epoch), appliedGeneration: 0n }));
    }
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  return () => clearInterval(timer);
}
