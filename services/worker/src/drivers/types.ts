/**
 * The host drivers a worker reconciles through (STYLE.md items 6-9). Each interface is small and
 * speaks the domain's terms; implementations are `ovs.ts`, `lxc.ts` and the in-memory `fake.ts`.
 * Every method is idempotent: calling it again with the same input changes nothing.
 */

/** The `external_ids` key that marks an OVS port as Fjord's; its value is the owning host's id. */
export const OWNER_KEY = 'fjord-owner';

/** A container's port on the host bridge as the worker wants it. */
export interface PortSpec {
  /** Interface name on the host (the container's `veth.pair`), at most 15 characters. */
  name: string;
  /** Access VLAN tag, 1-4094. */
  vlan: number;
  /**
   * Extra `external_ids` to record on the port (e.g. `fjord-container`); the owner key is added.
   * An owned port's whole `external_ids` map is Fjord's: an update replaces it.
   */
  externalIds?: Readonly<Record<string, string>>;
}

/** A Fjord-owned port as found on the bridge. */
export interface PortInfo {
  name: string;
  /** The access tag, or null for an untagged/trunk port. */
  vlan: number | null;
  externalIds: Record<string, string>;
}

/** What one `applyPorts` call did. */
export interface PortChanges {
  added: string[];
  updated: string[];
  unchanged: string[];
}

/** One host's virtual switch: a bridge and the Fjord-owned access ports on it. */
export interface SwitchDriver {
  /** The bridge this driver manages. */
  readonly bridge: string;
  /** Creates the bridge if missing. */
  ensureBridge(): Promise<void>;
  /**
   * Makes each port exist on the bridge with its tag and external_ids, in one transaction, and marks
   * it as owned by this host. A port may be added before its interface exists (the container is not
   * running yet); the switch picks the interface up when it appears.
   */
  applyPorts(ports: readonly PortSpec[]): Promise<PortChanges>;
  /** Removes these ports in one transaction; names that are missing or not Fjord-owned are left alone. */
  removePorts(names: readonly string[]): Promise<string[]>;
  /**
   * Takes these owned ports off the bridge and puts them back, unchanged, once the switch has
   * processed the removal. Called for a container about to start whose port already exists: the
   * userspace datapath does not re-open an interface that vanished (the container stopped) and came
   * back under the same name, so without this the restarted container would be cut off. Returns the
   * names replugged (missing or foreign ones are skipped).
   */
  replugPorts(names: readonly string[]): Promise<string[]>;
  /** Fjord-owned ports on the bridge (owned by this host), sorted by name. */
  listPorts(): Promise<PortInfo[]>;
}

/** A container's lifecycle state as the runtime reports it. */
export const ContainerState = {
  Running: 'running',
  Stopped: 'stopped',
  /** Starting, stopping, freezing: in between; look again. */
  Transitioning: 'transitioning',
} as const;
/** A container's lifecycle state as the runtime reports it. */
export type ContainerState = (typeof ContainerState)[keyof typeof ContainerState];

/** How a container is plugged into its host's bridge. */
export interface ContainerNetwork {
  /** The host's bridge (OVS). */
  bridge: string;
  /** The tenant's VLAN. */
  vlan: number;
  /** Host-side interface name, fixed so the switch driver can own the port; at most 15 characters. */
  vethPair: string;
  /** The container's address, e.g. `10.20.0.11`. */
  ip: string;
  /** Prefix length of the tenant subnet, e.g. 24. */
  prefix: number;
  /** Default gateway, if the network has one. */
  gateway?: string;
  /** Fixed MAC address, if wanted (`aa:bb:...`). */
  hwaddr?: string;
}

/** A container as the worker wants it created. */
export interface ContainerSpec {
  /** Container name, unique on its host: letters, digits, `-`, `_`, `.`. */
  name: string;
  /** Image template (`busybox`). */
  template: string;
  network: ContainerNetwork;
  /** Program to run at boot, in the background, as an argument array (e.g. busybox httpd). */
  command?: readonly string[];
}

/** A container as found on the host. */
export interface ContainerInfo {
  name: string;
  state: ContainerState;
  /** Its init process id on the machine while running (for entering its namespaces). */
  pid: number | null;
}

/** What `create` did. */
export type CreateOutcome = 'created' | 'updated' | 'unchanged';

/** One host's container runtime. */
export interface ContainerRuntime {
  /**
   * Makes the container exist with this spec. An existing one keeps its root filesystem; a changed
   * config takes effect at its next start.
   */
  create(spec: ContainerSpec): Promise<CreateOutcome>;
  /** Starts it (no-op when running) and prepares its network (TX checksum offload off). */
  start(name: string): Promise<void>;
  /** Stops it (no-op when stopped); `force` kills instead of halting. */
  stop(name: string, opts?: { force?: boolean }): Promise<void>;
  /** Stops and deletes it with its root filesystem (no-op when missing). */
  destroy(name: string): Promise<void>;
  /** Every container on this host, sorted by name. */
  list(): Promise<ContainerInfo[]>;
}
