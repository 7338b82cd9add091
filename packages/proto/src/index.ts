/**
 * Generated protobuf code (ts-proto, committed; `npm run check` fails when it is stale).
 * Protobuf types stop at the edge: gRPC handlers and the worker codec translate to domain types.
 */
import * as fleetV1 from './gen/fjord/v1/fleet.js';
import * as networkV1 from './gen/fjord/v1/network.js';
import * as placementV1 from './gen/fjord/v1/placement.js';
import * as workerV1 from './gen/fjord/v1/worker.js';

export { fleetV1, networkV1, placementV1, workerV1 };

/** Directory holding the .proto sources, for gRPC reflection (which needs a proto-loader definition). */
export const protoRoot = new URL('../../../proto', import.meta.url).pathname;
