import { describe, expect, it } from 'vitest';
import { refusedByPostgres } from './tx.js';

describe('refusedByPostgres', () => {
  it('is true only for a statement error Postgres sent, after which nothing of the statement committed', () => {
    expect(refusedByPostgres(Object.assign(new Error('duplicate key'), { severity: 'ERROR', code: '23505' }))).toBe(true);
    // A terminated backend can say so after its commit; a lost connection says nothing at all.
    expect(refusedByPostgres(Object.assign(new Error('terminating connection'), { severity: 'FATAL', code: '57P01' }))).toBe(false);
    expect(refusedByPostgres(Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }))).toBe(false);
    expect(refusedByPostgres(undefined)).toBe(false);
  });
});
