export { callUnary, CallError, connect } from './client.js';
export type { Clients } from './client.js';
