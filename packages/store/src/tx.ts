import { UnavailableError } from '@fjord/core';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

const RETRYABLE = new Set(['40001', '40P01']); // serialization failure, deadlock detected

/** SQLSTATE of a postgres.js error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether `err` is a statement error Postgres itself sent (severity ERROR): the statement failed
 * there, so nothing of it committed. Any other failure of a write leaves its outcome unknown: a
 * connection lost while waiting for the answer, or a FATAL (the backend terminated), which can
 * come after the commit.
 */
export function refusedByPostgres(err: unknown): boolean {
  return (err as { severity?: unknown } | null)?.severity === 'ERROR';
}

/** Constraint name of a postgres.js constraint violation, if any. */
export function constraintName(err: unknown): string | undefined {
  const name = (err as { constraint_name?: unknown } | null)?.constraint_name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Thrown when a transaction cannot go on without risking a deadlock. {@link inTransaction} retries
 * its own transactions on it; a caller's transaction sees a retryable UnavailableError.
 */
export class RetryTransactionError extends UnavailableError {}

/**
 * Runs `fn` in a transaction: the caller's, when `db` already is one (no nested BEGIN), otherwise a
 * new one that is retried (with a short random backoff) on deadlock, serialization failure or
 * {@link RetryTransactionError}.
 */
export async function inTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      const retry = err instanceof RetryTransactionError || RETRYABLE.has(sqlState(err) ?? '');
      if (attempt >= 20 || !retry) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}
