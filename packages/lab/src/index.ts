/** @fjord/lab: a fleet of namespaced hypervisors on one machine, for e2e tests, benchmarks and the demo. */
export {
  LAB_TOOLS,
  labClientJoin,
  labClientLeave,
  labControlPlane,
  labDown,
  labExec,
  labGet,
  labHeal,
  labIsPartitioned,
  labKill,
  labPartition,
  labPrerequisiteProblem,
  labRegisterWorker,
  labStatus,
  labUp,
  labWorkerConfig,
  type Lab,
  type LabHostStatus,
  type LabStatus,
  type LabUpOptions,
} from './lab.js';
export { DEFAULT_LAB_NAME, DEFAULT_STATE_DIR, LAB_NAME_RULE, MAX_LAB_HOSTS, clientNetns, hostNames, isLabName, labDir, labLayout, type LabHost, type LabLayout, type LabRef, type LabTor } from './names.js';
export { startOvs, stopOvs } from './ovs-instance.js';
export { parseTarget, relayFiles, runRelay, type RelayConfig, type RelayPorts, type RelayRoute } from './relay.js';
export { captureWhile, containerPid, fetchPage, macAt, pings, probe, type ProbeSite } from './probe.js';
export { sh, type ShOptions, type ShResult } from './sh.js';
export type { LabClient, LabState } from './state.js';
export { LabCommandError, LabError } from './errors.js';
