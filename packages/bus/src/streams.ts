import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { HostVerb, type Subjects } from './subjects.js';

/**
 * Creates (or updates) the JetStream streams: per-host desired state, of which only the newest
 * message per host is kept (it may be a delta: what the stream gives the relay is its
 * de-duplication by message id; a worker gets its whole state from a sync), and the event log.
 */
export async function ensureStreams(nc: NatsConnection, s: Subjects): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const wanted = [
    {
      name: s.streams.desired,
      subjects: [s.anyHost(HostVerb.Desired)],
      max_msgs_per_subject: 1,
    },
    {
      name: s.streams.events,
      subjects: [s.allEvents()],
      max_msgs_per_subject: -1,
      max_msgs: 1_000_000,
    },
  ];
  for (const stream of wanted) {
    const config = { ...stream, storage: StorageType.File, retention: RetentionPolicy.Limits, duplicate_window: 120_000_000_000 };
    try {
      await jsm.streams.info(stream.name);
      await jsm.streams.update(stream.name, config);
    } catch {
      await jsm.streams.add(config);
    }
  }
}

/** Deletes this prefix's streams (tests clean up with it). */
export async function deleteStreams(nc: NatsConnection, s: Subjects): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const name of [s.streams.desired, s.streams.events]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
}
