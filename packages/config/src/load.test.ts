import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadConfig } from './load.js';
import { SchedulerConfig, schedulerEnv } from './scheduler.js';

// Config files of this file's tests, removed after them.
const dir = mkdtempSync(join(tmpdir(), 'fjord-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

function writeConfig(value: unknown): string {
  const file = join(dir, `config-${files++}.json`);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

describe('loadConfig()', () => {
  it('gives every key a sane default', () => {
    const config = loadConfig(SchedulerConfig, schedulerEnv, { env: {} });
    expect(config.grpcListen).toBe('127.0.0.1:50051');
    expect(config.physicalNetworks[0]?.name).toBe('physnet1');
  });

  it('lets the environment override the file', () => {
    const file = writeConfig({ grpcListen: '127.0.0.1:1', logLevel: 'debug' });
    const config = loadConfig(SchedulerConfig, schedulerEnv, { file, env: { FJORD_GRPC_LISTEN: '127.0.0.1:2' } });
    expect(config.grpcListen).toBe('127.0.0.1:2');
    expect(config.logLevel).toBe('debug');
  });

  it('reports every invalid key at once', () => {
    const file = writeConfig({ logLevel: 'loud', databaseUrl: 'not a url', subnetPools: [{ name: 'p', cidr: '10.0.0.0/8', prefixLength: 40 }] });
    let error: unknown;
    try {
      loadConfig(SchedulerConfig, schedulerEnv, { file, env: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.join('\n');
    expect(issues).toContain('logLevel');
    expect(issues).toContain('databaseUrl');
    expect(issues).toContain('subnetPools.0.prefixLength');
  });

  it('refuses a lease that would leave a write too little of it before each renewal', () => {
    const file = writeConfig({ leaseTtlMs: 1500, leaseRenewMs: 500 });
    expect(() => loadConfig(SchedulerConfig, schedulerEnv, { file, env: {} })).toThrow(/leaseTtlMs: must exceed leaseRenewMs \(500\) by more than 1000 ms/);
    expect(loadConfig(SchedulerConfig, schedulerEnv, { file, env: { FJORD_LEASE_TTL_MS: '1600' } }).leaseTtlMs).toBe(1600);
  });

  it('refuses a host staleness that one late heartbeat would reach', () => {
    const file = writeConfig({ heartbeatIntervalMs: 1000, hostStaleAfterMs: 1500 });
    expect(() => loadConfig(SchedulerConfig, schedulerEnv, { file, env: {} })).toThrow(/hostStaleAfterMs: must be at least twice heartbeatIntervalMs \(1000\)/);
    expect(loadConfig(SchedulerConfig, schedulerEnv, { file, env: { FJORD_HOST_STALE_AFTER_MS: '2000' } }).hostStaleAfterMs).toBe(2000);
    expect(() => loadConfig(SchedulerConfig, schedulerEnv, { file, env: { FJORD_HOST_STALE_AFTER_MS: '1999' } })).toThrow(
      /hostStaleAfterMs: must be at least twice heartbeatIntervalMs \(1000\) \(from FJORD_HOST_STALE_AFTER_MS\)/,
    );
    expect(loadConfig(SchedulerConfig, schedulerEnv, { file: undefined, env: {} }).hostStaleAfterMs).toBe(5000);
  });

  it('refuses keys it does not know, so that a misspelt one is not silently ignored', () => {
    const file = writeConfig({ leaseTTLms: 3000, physicalNetworks: [{ name: 'physnet1', vlanRanges: '100-199', vlans: '200' }] });
    let error: unknown;
    try {
      loadConfig(SchedulerConfig, schedulerEnv, { file, env: {} });
    } catch (err) {
      error = err;
    }
    expect((error as ConfigError).issues).toEqual(['physicalNetworks.0: Unrecognized key: "vlans"', '(root): Unrecognized key: "leaseTTLms"']);
  });

  it('names a config file that is not JSON', () => {
    const file = writeConfig('{oops');
    expect(() => loadConfig(SchedulerConfig, schedulerEnv, { file, env: {} })).toThrow(/not valid JSON/);
  });
});
