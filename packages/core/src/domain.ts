/**
 * Domain types shared by every layer inside the protobuf edge (STYLE.md item 12): plain data, no
 * classes, no behaviour. Times are milliseconds since the Unix epoch; cpu is in millicores;
 * memory in bytes.
 */

/** The lifecycle state of a host; only `READY` hosts receive new work. */
export const HostState = {
  Ready: 'READY',
  Cordoned: 'CORDONED',
  Draining: 'DRAINING',
  Patching: 'PATCHING',
  Down: 'DOWN',
} as const;
/** One of the values of {@link HostState}. */
export type HostState = (typeof HostState)[keyof typeof HostState];

/** An amount of host resources: cpu in millicores, memory in bytes, and container slots. */
export interface Resources {
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly slots: number;
}

/** A hypervisor as the control plane knows it. */
export interface Host {
  readonly id: string;
  readonly name: string;
  /** Free-form labels such as `zone` and `rack`, matched by {@link LabelConstraint}s. */
  readonly labels: Readonly<Record<string, string>>;
  /** What the host offers in total. */
  readonly capacity: Resources;
  /** What the containers placed on it already take. */
  readonly usage: Resources;
  /** Names of the physical networks (OVS uplinks) the host is attached to. */
  readonly physicalNetworks: readonly string[];
  readonly state: HostState;
  /** Fencing token handed out at registration; bumped when the host is declared down. */
  readonly epoch: number;
  /** When the last heartbeat arrived, in milliseconds since the Unix epoch. */
  readonly lastHeartbeatAt: number;
}

/** The comparison a {@link LabelConstraint} makes. */
export const ConstraintOp = {
  Equal: '=',
  NotEqual: '!=',
} as const;
/** One of the values of {@link ConstraintOp}. */
export type ConstraintOp = (typeof ConstraintOp)[keyof typeof ConstraintOp];

/**
 * A condition on a host label: `zone=a` needs the label with that value; `rack!=r1` needs the
 * label absent or with another value.
 */
export interface LabelConstraint {
  readonly label: string;
  readonly op: ConstraintOp;
  readonly value: string;
}

/** A request to place one container; every container takes one slot. */
export interface PlacementRequest {
  /** Container name, unique within its tenant. */
  readonly name: string;
  readonly tenant: string;
  /** The tenant network the container joins. */
  readonly network: string;
  /** The physical network that carries `network`; the host must be attached to it. */
  readonly physicalNetwork: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly constraints: readonly LabelConstraint[];
  /** Members of one group never share a host (e.g. the two halves of an HA pair). */
  readonly antiAffinityGroup?: string;
  /** With `antiAffinityGroup`, spread the group over this label (e.g. `rack`) where possible. */
  readonly spreadLabel?: string;
}
