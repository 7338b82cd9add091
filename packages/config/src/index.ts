export { ConfigError } from './errors.js';
export { loadConfig } from './load.js';
export type { ConfigSources } from './load.js';
export { LEASE_WRITE_MARGIN_MS, PhysicalNetworkConfig, SchedulerConfig, SubnetPoolConfig, schedulerEnv } from './scheduler.js';
