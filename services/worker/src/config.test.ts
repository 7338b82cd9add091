import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@fjord/config';
import { loadWorkerConfig } from './config.js';

// Config files of this file's tests, removed after them.
const dir = mkdtempSync(join(tmpdir(), 'fjord-worker-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function file(content: unknown): string {
  const path = join(dir, `worker-${files++}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

describe('loadWorkerConfig()', () => {
  it('needs only a host name and defaults to the fake drivers', () => {
    const config = loadWorkerConfig({ env: { FJORD_HOST: 'hv1' } });
    expect(config).toMatchObject({ host: 'hv1', subjectPrefix: 'fjord', natsUrl: 'nats://127.0.0.1:4222', driver: { kind: 'fake' } });
    expect(config.heartbeatMs).toBeUndefined();
  });

  it('reads the real drivers from the file and lets the environment override flat keys', () => {
    const config = loadWorkerConfig({
      file: file({ host: 'hv1', labels: { zone: 'a' }, driver: { kind: 'lxc-ovs', bridge: 'br-hv1', ovsRundir: '/run/fj/hv1', lxcPath: '/var/lib/fj/hv1', netns: 'fj-hv1' } }),
      env: { FJORD_HOST: 'hv2', FJORD_HEARTBEAT_MS: '250' },
    });
    expect(config).toMatchObject({ host: 'hv2', heartbeatMs: 250, labels: { zone: 'a' } });
    expect(config.driver).toMatchObject({ kind: 'lxc-ovs', bridge: 'br-hv1', ovsRundir: '/run/fj/hv1', portAttach: 'switch-driver', stopTimeoutS: 5 });
  });

  it('names every invalid key at once', () => {
    let error: unknown;
    try {
      loadWorkerConfig({ file: file({ host: 'bad.host', slots: 0, driver: { kind: 'lxc-ovs', bridge: 'a-bridge-name-too-long' } }) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    for (const key of ['host', 'slots', 'driver.bridge']) expect(text).toContain(`${key}:`);
  });

  it('refuses a label the scheduler could not store', () => {
    expect(() => loadWorkerConfig({ file: file({ host: 'hv1', labels: { zone: 'a\0' } }) })).toThrow(/labels\.zone: no NUL/);
  });
});
