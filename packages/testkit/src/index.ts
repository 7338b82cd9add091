// Public surface of @fjord/testkit (STYLE.md item 5): named exports only.
export {
  type TestDatabase,
  type TestDatabaseOptions,
  type NatsTestEnv,
  LOCAL_POSTGRES_URL,
  createTestDatabase,
  postgresAvailability,
  natsTestEnv,
  rawQuery,
} from './postgres-env.js';
