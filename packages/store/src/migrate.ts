import { type Kysely, type Migration, type MigrationResult, Migrator } from 'kysely';
import { migration0001Networks } from './migrations/0001-networks.js';
import { migration0002Placement } from './migrations/0002-placement.js';
import { migration0003OutboxPerCommit } from './migrations/0003-outbox-per-commit.js';
import { migration0004HostLiveness } from './migrations/0004-host-liveness.js';
import { migration0005StatementChecks } from './migrations/0005-statement-checks.js';
import { migration0006RoomForUpdates } from './migrations/0006-room-for-updates.js';
import { migration0007DesiredDeltas } from './migrations/0007-desired-deltas.js';
import { migration0008HostStale } from './migrations/0008-host-stale.js';

/**
 * Every migration, by name; kysely applies them in name order. Append new ones here
 * (`'0002-hosts': migration0002Hosts`), never rename or edit an applied one.
 */
export const migrations: Record<string, Migration> = {
  '0001-networks': migration0001Networks,
  '0002-placement': migration0002Placement,
  '0003-outbox-per-commit': migration0003OutboxPerCommit,
  '0004-host-liveness': migration0004HostLiveness,
  '0005-statement-checks': migration0005StatementChecks,
  '0006-room-for-updates': migration0006RoomForUpdates,
  '0007-desired-deltas': migration0007DesiredDeltas,
  '0008-host-stale': migration0008HostStale,
};

/** Applies every pending migration; throws the first failure with the migration's name. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationResult[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error');
    throw new Error(`migrate to latest: ${failed ? failed.migrationName : 'migrator'}: ${errorMessage(error)}`, { cause: error });
  }
  return results;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
