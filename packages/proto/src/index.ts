/**
 * Generated protobuf code (ts-proto, committed; `npm run check` fails when it is stale).
 * Protobuf types stop at the edge: gRPC handlers and the worker codec translate to domain types.
 */
import * as networkV1 from './gen/fjord/v1/network.js';

export { networkV1 };

/** Directory holding the .proto sources, for gRPC reflection (which needs a proto-loader definition). */
export const protoRoot = new URL('../../../proto', import.meta.url).pathname;
