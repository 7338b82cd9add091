/**
 * The worker's reconcile planner (DESIGN.md principle 2): a pure diff of a host's desired containers
 * against what its runtime and switch report, giving an ordered list of actions. The worker executes
 * the actions through its drivers; running the planner again on the resulting state gives no actions.
 *
 * Ownership. A container is Fjord's when its name is a runtime name (`c-` and 1-12 of `[a-z0-9]`);
 * a port is a container's port when the switch lists it as owned by this host and it carries the
 * {@link CONTAINER_ID_KEY} external id. Nothing else is ever touched.
 *
 * Change detection. Each container port records a fingerprint of the container spec it was last
 * applied with ({@link SPEC_ID_KEY}). A container whose port carries another fingerprint is
 * recreated; the port keeps the old fingerprint until the recreate succeeded (a separate
 * `confirm-ports` batch), so a recreate that fails half-way is tried again on the next pass.
 */

/** One container as the scheduler wants it on this host (the domain form of `DesiredContainer`). */
export interface DesiredContainer {
  /** Name on the host, unique fleet-wide, e.g. `c-1a2b3c4d5e6f`. */
  readonly runtimeName: string;
  readonly tenant: string;
  readonly name: string;
  /** Image template; empty means `busybox`. */
  readonly template: string;
  readonly vlan: number;
  readonly address: string;
  readonly prefixLength: number;
  /** Default gateway; empty for none. */
  readonly gateway: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** Program to run, split on whitespace; empty means the runtime's default. */
  readonly command: string;
}

/** A container's runtime state as observed (the runtime's words). */
export type ObservedRuntimeState = 'running' | 'stopped' | 'transitioning';

/** A container as the runtime lists it. */
export interface ObservedContainer {
  readonly name: string;
  readonly state: ObservedRuntimeState;
}

/** A port the switch lists as owned by this host. */
export interface ObservedPort {
  readonly name: string;
  readonly vlan: number | null;
  readonly externalIds: Readonly<Record<string, string>>;
}

/** A port as the planner wants it: name, tag and the external ids that tie it to its container. */
export interface WantedPort {
  readonly name: string;
  readonly vlan: number;
  /** The container the port belongs to. */
  readonly container: string;
  readonly externalIds: Readonly<Record<string, string>>;
}

/** The kinds of {@link ReconcileAction}, in the order a plan lists them. */
export const ReconcileActionKind = {
  /** Stop and destroy an owned container that is no longer desired. */
  RemoveContainer: 'remove-container',
  /** Remove owned container ports that are no longer desired, in one batch. */
  RemovePorts: 'remove-ports',
  /** Add or update container ports, in one batch, before their containers start. */
  ApplyPorts: 'apply-ports',
  /** Create a missing container and start it. */
  CreateContainer: 'create-container',
  /** Start an existing, unchanged, stopped container. */
  StartContainer: 'start-container',
  /** Stop, destroy, create and start a container whose spec changed. */
  RecreateContainer: 'recreate-container',
  /** Record the new spec fingerprint on ports whose containers were recreated (skip the failed ones). */
  ConfirmPorts: 'confirm-ports',
} as const;
/** One of the values of {@link ReconcileActionKind}. */
export type ReconcileActionKind = (typeof ReconcileActionKind)[keyof typeof ReconcileActionKind];

/** One step of a reconcile plan. */
export type ReconcileAction =
  | { readonly kind: 'remove-container'; readonly name: string }
  | { readonly kind: 'remove-ports'; readonly names: readonly string[] }
  | { readonly kind: 'apply-ports'; readonly ports: readonly WantedPort[] }
  | { readonly kind: 'create-container'; readonly container: DesiredContainer }
  | { readonly kind: 'start-container'; readonly name: string }
  | { readonly kind: 'recreate-container'; readonly container: DesiredContainer }
  | { readonly kind: 'confirm-ports'; readonly ports: readonly WantedPort[] };

/** A desired container the planner refused, and why. */
export interface InvalidContainer {
  readonly runtimeName: string;
  readonly reason: string;
}

/** What the host should do to match its desired state. */
export interface ReconcilePlan {
  /** Ordered: removals, port batch, per-container create/start/recreate, fingerprint confirmation. */
  readonly actions: readonly ReconcileAction[];
  /** Desired containers that cannot be applied as given (reported FAILED; nothing done for them). */
  readonly invalid: readonly InvalidContainer[];
}

/** `external_ids` key naming the container a port belongs to. */
export const CONTAINER_ID_KEY = 'fjord-container';
/** `external_ids` key holding the fingerprint of the spec the container was last applied with. */
export const SPEC_ID_KEY = 'fjord-spec';

const RUNTIME_NAME = /^c-[a-z0-9]{1,12}$/;

/** Whether `name` is a Fjord runtime name (and so a container Fjord owns). */
export function isRuntimeName(name: string): boolean {
  return RUNTIME_NAME.test(name);
}

/** A container's name on its host: short, unique (from its id), and a valid LXC/veth stem. */
export function runtimeNameOf(id: string): string {
  return `c-${id.replace(/-/g, '').slice(0, 12)}`;
}

/**
 * A container's MAC address, fixed by its VLAN and IPv4 address (locally administered:
 * `02:<vlan, 2 bytes>:<last 3 bytes of the address>`). Unique within a VLAN because addresses are,
 * and stable across restarts and re-creation, so peers' neighbour caches stay right (a new random
 * MAC per start leaves them pointing at the old one for up to a minute).
 */
export function containerMac(vlan: number, address: string): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  const [, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return ['02', hex((vlan >> 8) & 0xff), hex(vlan & 0xff), hex(b), hex(c), hex(d)].join(':');
}

/** The host-side veth (and port) name of a container: `v` + the runtime name without `c-` (≤ 15 chars). */
export function vethName(runtimeName: string): string {
  return `v${runtimeName.slice(2)}`;
}

/** The argument array of a container's command, or undefined for the runtime's default. */
export function commandArgv(command: string): string[] | undefined {
  const argv = command.trim().split(/\s+/).filter((a) => a !== '');
  return argv.length > 0 ? argv : undefined;
}

/** 32-bit FNV-1a of a string, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * A short fingerprint of everything that shapes the container on the host (not cpu/memory, which
 * the runtime does not enforce yet): a changed fingerprint means the container must be recreated.
 */
export function containerFingerprint(c: DesiredContainer): string {
  return fnv1a(JSON.stringify([c.tenant, c.name, c.template, c.vlan, c.address, c.prefixLength, c.gateway, c.command.trim().split(/\s+/).join(' ')]));
}

function checkContainer(c: DesiredContainer): string | undefined {
  if (!isRuntimeName(c.runtimeName)) return `bad runtime name ${JSON.stringify(c.runtimeName)}: want c- and 1-12 of [a-z0-9]`;
  if (!Number.isInteger(c.vlan) || c.vlan < 1 || c.vlan > 4094) return `bad vlan ${c.vlan}: want 1-4094`;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(c.address)) return `bad address ${JSON.stringify(c.address)}`;
  if (!Number.isInteger(c.prefixLength) || c.prefixLength < 1 || c.prefixLength > 32) return `bad prefix length ${c.prefixLength}`;
  return undefined;
}

function wantedPort(c: DesiredContainer, fingerprint: string): WantedPort {
  return {
    name: vethName(c.runtimeName),
    vlan: c.vlan,
    container: c.runtimeName,
    externalIds: { [CONTAINER_ID_KEY]: c.runtimeName, [SPEC_ID_KEY]: fingerprint },
  };
}

function samePort(have: ObservedPort | undefined, want: WantedPort): boolean {
  if (!have || have.vlan !== want.vlan) return false;
  return Object.entries(want.externalIds).every(([k, v]) => have.externalIds[k] === v);
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Plans how to turn `observed` into `desired`. Deterministic: the same input gives the same plan,
 * with containers and ports in name order. A container in transition is left alone this pass
 * (unless undesired) and looked at again on the next.
 */
export function planReconcile(
  desired: readonly DesiredContainer[],
  observed: { readonly containers: readonly ObservedContainer[]; readonly ports: readonly ObservedPort[] },
): ReconcilePlan {
  const invalid: InvalidContainer[] = [];
  const wanted = new Map<string, DesiredContainer>();
  for (const c of [...desired].sort((a, b) => byName(a.runtimeName, b.runtimeName))) {
    const reason = wanted.has(c.runtimeName) ? `runtime name ${c.runtimeName} given twice` : checkContainer(c);
    if (reason) invalid.push({ runtimeName: c.runtimeName, reason });
    else wanted.set(c.runtimeName, c);
  }
  const containers = new Map(observed.containers.filter((c) => isRuntimeName(c.name)).map((c) => [c.name, c]));
  const ports = new Map(observed.ports.filter((p) => p.externalIds[CONTAINER_ID_KEY] !== undefined).map((p) => [p.name, p]));

  const actions: ReconcileAction[] = [];
  for (const name of [...containers.keys()].sort(byName)) {
    if (!wanted.has(name)) actions.push({ kind: 'remove-container', name });
  }
  const wantedPorts = new Set([...wanted.keys()].map(vethName));
  const removePorts = [...ports.keys()].filter((p) => !wantedPorts.has(p)).sort(byName);
  if (removePorts.length > 0) actions.push({ kind: 'remove-ports', names: removePorts });

  const apply: WantedPort[] = [];
  const confirm: WantedPort[] = [];
  const perContainer: ReconcileAction[] = [];
  for (const c of wanted.values()) {
    const fingerprint = containerFingerprint(c);
    const have = containers.get(c.runtimeName);
    const port = ports.get(vethName(c.runtimeName));
    const final = wantedPort(c, fingerprint);
    const applied = port?.externalIds[SPEC_ID_KEY];
    if (!have) {
      if (!samePort(port, final)) apply.push(final);
      perContainer.push({ kind: 'create-container', container: c });
    } else if (applied !== fingerprint) {
      // Tag the port for the new spec now, but keep the old fingerprint until the recreate succeeded.
      const interim = { ...final, externalIds: { ...final.externalIds, [SPEC_ID_KEY]: applied ?? '' } };
      if (!samePort(port, interim)) apply.push(interim);
      perContainer.push({ kind: 'recreate-container', container: c });
      confirm.push(final);
    } else {
      if (!samePort(port, final)) apply.push(final);
      if (have.state === 'stopped') perContainer.push({ kind: 'start-container', name: c.runtimeName });
    }
  }
  if (apply.length > 0) actions.push({ kind: 'apply-ports', ports: apply });
  actions.push(...perContainer);
  if (confirm.length > 0) actions.push({ kind: 'confirm-ports', ports: confirm });
  return { actions, invalid };
}
