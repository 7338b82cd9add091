/** @fjord/worker: host drivers and the command runner the worker reconciles through. */
export { CommandError, DriverInputError, OvsdbError, type CommandErrorFields } from './errors.js';
export { run, wrapNetns, type Exec, type ExecOptions, type ExecResult } from './exec.js';
export {
  ContainerState,
  OWNER_KEY,
  type ContainerInfo,
  type ContainerNetwork,
  type ContainerRuntime,
  type ContainerSpec,
  type CreateOutcome,
  type PortChanges,
  type PortInfo,
  type PortSpec,
  type SwitchDriver,
} from './drivers/types.js';
export { OvsSwitch, type OvsSwitchOptions } from './drivers/ovs.js';
export { LxcRuntime, parseLxcInfo, parseLxcLs, vethPairOf, toContainerState, type LxcRuntimeOptions } from './drivers/lxc.js';
export { PortAttach, renderBusyboxRcs, renderLxcConfig, renderStartHostScript, shellQuote, type LxcConfigInput, type LxcRootfs, type StartHostScriptInput } from './drivers/lxc-config.js';
export {
  OVSDB,
  bridgeMutated,
  checkIfName,
  checkIpv4,
  checkVlan,
  listPortsTxn,
  parseListPorts,
  planApplyPorts,
  removePortsTxn,
  txnResults,
  type PortPlan,
  type PortRow,
} from './drivers/ovs-plan.js';
export { jsonEnd, ovsdbTransact, type OvsdbTransact } from './drivers/ovsdb-rpc.js';
export { FakeRuntime, FakeSwitch, type FakeCall } from './drivers/fake.js';
export {
  Agent,
  AGENT_VERSION,
  applyDelta,
  desiredFromWire,
  type AgentHooks,
  type AgentOptions,
  type AgentStats,
  type AgentTiming,
  type HostConfig,
  type HostDesiredDelta,
  type HostDesiredState,
} from './agent.js';
export { Reconciler, ReportedState, type ContainerReport, type ReconcileResult, type ReconcilerOptions } from './reconcile.js';
export { DEFAULT_SIM_CAPACITY, runSimulator, spreadLabels, type SimCapacity, type Simulator, type SimulatorCounters, type SimulatorOptions } from './sim.js';
export { FakeDriverConfig, LxcOvsDriverConfig, WorkerConfig, loadWorkerConfig, workerEnv } from './config.js';
