export { startGrpcServer } from './server.js';
export type { GrpcServerDeps, RunningGrpcServer } from './server.js';
export { toGrpcStatus } from './grpc/status.js';
export { Scheduler } from './scheduler.js';
export type { SchedulerOptions } from './scheduler.js';
