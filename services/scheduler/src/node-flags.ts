/**
 * Node flags every scheduler process runs with. A heap cap keeps its memory to what it needs: its
 * live data is small (hosts, groups, in-flight work), but under load V8 otherwise lets garbage pile
 * up to gigabytes before collecting. `npm run scheduler` passes the same flags.
 */
export const SCHEDULER_NODE_FLAGS: readonly string[] = ['--max-old-space-size=320'];
