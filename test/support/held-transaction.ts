/**
 * Helpers for tests about what waits for what in Postgres: a transaction held open with its locks,
 * and whether a write commits while it is.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Database } from '@fjord/store';

/** A transaction kept open until `release()`; `closed` settles once it has ended. */
export interface HeldTransaction {
  release(): void;
  closed: Promise<void>;
}

/**
 * Runs `work` in a transaction and resolves once it has run, leaving the transaction open (with
 * the locks `work` took) until `release()`. Release it in a `finally`: an open transaction keeps
 * the test's database from being dropped.
 */
export async function holdTransaction(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<unknown>): Promise<HeldTransaction> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let ran!: () => void;
  const workDone = new Promise<void>((resolve) => (ran = resolve));
  const closed = db.transaction().execute(async (trx) => {
    await work(trx);
    ran();
    await released;
  });
  await Promise.race([workDone, closed]);
  return { release, closed };
}

/** 'committed' if `write` finishes within `ms`, else 'waited' (`write` itself goes on). */
export async function commitsWithin(write: Promise<unknown>, ms: number): Promise<'committed' | 'waited'> {
  return Promise.race([write.then(() => 'committed' as const), sleep(ms).then(() => 'waited' as const)]);
}
