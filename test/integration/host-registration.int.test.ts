import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHosts } from '@fjord/store';
import { registerFakeHost } from '../support/fake-hosts.js';
import { startSchedulerTestBed } from '../support/placement-setup.js';

let bed: Awaited<ReturnType<typeof startSchedulerTestBed>>;

beforeAll(async () => void (bed = await startSchedulerTestBed()));

afterAll(() => bed?.stop());

describe('host registration', () => {
  it('refuses a registration whose labels Postgres could not store, naming them, and registers the others sent with it', async () => {
    // Registrations that arrive together commit together: the bad one must not take the good one down.
    const [bad, good] = await Promise.allSettled([
      registerFakeHost(bed.nc, bed.subjects, 'hv-bad', { zone: 'a\0b' }, 3000),
      registerFakeHost(bed.nc, bed.subjects, 'hv-good', { zone: 'a' }, 3000),
    ]);
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/labels: "zone" holds a NUL character/);
    expect(good).toMatchObject({ status: 'fulfilled', value: 1 });
    expect((await listHosts(bed.env.db, {})).map((h) => h.name)).toEqual(['hv-good']);
  });

  it('takes labels that constraints could not name: they are the host\'s data, not refused', async () => {
    await registerFakeHost(bed.nc, bed.subjects, 'hv-free', { 'rack name': 'row 3, left' }, 3000);
    expect((await listHosts(bed.env.db, { name: 'hv-free' }))[0]?.labels).toEqual({ 'rack name': 'row 3, left' });
  });
});
