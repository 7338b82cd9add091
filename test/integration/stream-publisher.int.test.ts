/**
 * `StreamPublisher` on real NATS JetStream: a message is stored once per id and acknowledged with
 * its sequence, a repeat is acknowledged as a duplicate, and a publish that no stream takes, that
 * nobody acknowledges in time, or that is still waiting when the publisher closes fails saying so.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteStreams, ensureStreams, HostVerb, StreamPublisher, subjects as buildSubjects } from '@fjord/bus';
import { natsTestEnv } from '@fjord/testkit';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: nats.url });
  await ensureStreams(nc, subjects);
});

afterAll(async () => {
  await deleteStreams(nc, subjects);
  await nc.close();
});

describe('StreamPublisher', () => {
  it('stores a message once per id and says when a repeat was a duplicate', async () => {
    const publisher = new StreamPublisher(nc);
    const data = new TextEncoder().encode('state');
    const first = await publisher.publish(subjects.host('hv1', HostVerb.Desired), data, 'desired:hv1:1');
    const again = await publisher.publish(subjects.host('hv1', HostVerb.Desired), data, 'desired:hv1:1');
    const second = await publisher.publish(subjects.host('hv1', HostVerb.Desired), data, 'desired:hv1:2');
    expect(first).toEqual({ stream: subjects.streams.desired, seq: expect.any(Number), duplicate: false });
    expect(again).toEqual({ ...first, duplicate: true });
    expect(second.seq).toBe(first.seq + 1);
    const info = await (await jetstreamManager(nc)).streams.info(subjects.streams.desired);
    expect(info.state.messages).toBe(1); // the newest per host is kept
    expect(info.state.last_seq).toBe(second.seq);
    publisher.close();
  });

  it('fails a publish no stream takes, one still waiting when closed, and any after', async () => {
    const publisher = new StreamPublisher(nc);
    await expect(publisher.publish(`${nats.prefix}.nowhere`, new Uint8Array(), 'x:1')).rejects.toThrow(/no stream listens on it/);
    const waiting = publisher.publish(subjects.host('hv2', HostVerb.Desired), new Uint8Array(), 'desired:hv2:1');
    publisher.close();
    await expect(waiting).rejects.toThrow(/not acknowledged: the publisher is closed/);
    expect(publisher.failed).toBe(true);
    await expect(publisher.publish(subjects.host('hv2', HostVerb.Desired), new Uint8Array(), 'desired:hv2:2')).rejects.toThrow(/^the publisher is closed$/);
  });

  it('fails a publish nobody acknowledges in time', async () => {
    const silent = nc.subscribe(`${nats.prefix}.silent`); // takes the message, never answers
    const publisher = new StreamPublisher(nc, 100);
    await expect(publisher.publish(`${nats.prefix}.silent`, new Uint8Array(), 'x:2')).rejects.toThrow(/no acknowledgement within 100 ms/);
    publisher.close();
    silent.unsubscribe();
  });
});
