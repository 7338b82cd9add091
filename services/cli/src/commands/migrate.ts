import type { Command } from 'commander';
import { createDb, migrateToLatest } from '@fjord/store';

/** Adds `fjordctl migrate`: brings the database schema to the latest version. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (the scheduler also does this at start)')
    .option('--database-url <url>', 'Postgres URL', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/fjord')
    .action(async (opts: { databaseUrl: string }) => {
      const { db, close } = createDb(opts.databaseUrl);
      try {
        const applied = await migrateToLatest(db);
        console.log(applied.length === 0 ? 'database is up to date' : `applied ${applied.map((m) => m.migrationName).join(', ')}`);
      } finally {
        await close();
      }
    });
}
