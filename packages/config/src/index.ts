export { ConfigError } from './errors.js';
export { loadConfig } from './load.js';
export type { ConfigSources } from './load.js';
export { PhysicalNetworkConfig, SchedulerConfig, SubnetPoolConfig, schedulerEnv } from './scheduler.js';
