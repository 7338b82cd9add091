/** Pure naming of everything a lab creates: one place, so teardown finds exactly what up made. */
import { join } from 'node:path';
import { LabError } from './errors.js';

/** Default directory under which each lab keeps its state, sockets, databases and containers. */
export const DEFAULT_STATE_DIR = '/run/fjord-lab';
/** Default lab name; it is also the prefix of every namespace the lab makes (`fj-hv1`). */
export const DEFAULT_LAB_NAME = 'fj';

/** How to find (or make) a lab. */
export interface LabRef {
  /** Lab name and namespace prefix: 1-8 lowercase letters/digits, starting with a letter. */
  name?: string;
  /** Parent directory of the lab's state (default {@link DEFAULT_STATE_DIR}). */
  stateDir?: string;
}

/** One hypervisor of the lab and everything a worker or driver needs to reach it. */
export interface LabHost {
  /** Host id, e.g. `hv1`. */
  name: string;
  /** Its network namespace: run `lxc-*` and data-plane commands here. */
  netns: string;
  /** Its OVS bridge (userspace datapath). */
  bridge: string;
  /** Its directory under the lab's state dir. */
  dir: string;
  /** Its OVS run directory: `OVS_RUNDIR` for `ovs-vsctl`, holds `db.sock`, pid files, logs. */
  ovsRundir: string;
  /** Its OVS database socket, for `ovs-vsctl --db=`. */
  ovsDb: string;
  /** Its LXC path (`lxc-* -P`). */
  lxcPath: string;
  /** Name of its uplink inside its namespace (a trunk port on its bridge). */
  uplink: string;
  /** Name of the other end of the uplink inside the top-of-rack namespace. */
  torPort: string;
  /** The environment a worker process for this host runs with. */
  env: Record<string, string>;
}

/** The top-of-rack switch joining every host's uplink. */
export interface LabTor {
  netns: string;
  bridge: string;
  ovsRundir: string;
  ovsDb: string;
}

/** A lab's layout, derived from its name, state dir and host names alone. */
export interface LabLayout {
  name: string;
  /** The lab's own directory: `<stateDir>/<name>`. */
  dir: string;
  /** The state file. */
  stateFile: string;
  /** Where template root filesystems are prepared once for every host. */
  templateCache: string;
  tor: LabTor;
  hosts: LabHost[];
}

const LAB_NAME = /^[a-z][a-z0-9]{0,7}$/;
const HOST_NAME = /^[a-z][a-z0-9]{0,9}$/;
/** What a lab name must be, for messages. */
export const LAB_NAME_RULE = '1-8 of a-z0-9, starting with a letter';
/** The most hosts a lab has. */
export const MAX_LAB_HOSTS = 64;

/** Whether `name` is a valid lab name ({@link LAB_NAME_RULE}). */
export function isLabName(name: string): boolean {
  return LAB_NAME.test(name);
}

/** Resolves a lab reference to its name and directory, validating the name. */
export function labDir(ref: LabRef): { name: string; dir: string } {
  const name = ref.name ?? DEFAULT_LAB_NAME;
  if (!isLabName(name)) throw new LabError(`bad lab name ${JSON.stringify(name)}: want ${LAB_NAME_RULE}`);
  return { name, dir: join(ref.stateDir ?? DEFAULT_STATE_DIR, name) };
}

/** Host ids `hv1`..`hvN`, or the given names after validation. */
export function hostNames(hosts: number | readonly string[]): string[] {
  const names = typeof hosts === 'number' ? Array.from({ length: hosts }, (_, i) => `hv${i + 1}`) : [...hosts];
  if (names.length < 1 || names.length > MAX_LAB_HOSTS) throw new LabError(`bad host count ${names.length}: want 1-${MAX_LAB_HOSTS}`);
  for (const h of names) {
    if (!HOST_NAME.test(h) || h === 'tor' || h.startsWith('cl')) throw new LabError(`bad host name ${JSON.stringify(h)}`);
  }
  if (new Set(names).size !== names.length) throw new LabError('host names repeat');
  return names;
}

/** The netns of the client that joins `vlan`. */
export function clientNetns(labName: string, vlan: number): string {
  return `${labName}-cl${vlan}`;
}

/** Derives a lab's whole layout. */
export function labLayout(ref: LabRef, hosts: readonly string[]): LabLayout {
  const { name, dir } = labDir(ref);
  const torRun = join(dir, 'tor', 'ovs');
  return {
    name,
    dir,
    stateFile: join(dir, 'lab.json'),
    templateCache: join(dir, 'templates'),
    tor: { netns: `${name}-tor`, bridge: 'br-tor', ovsRundir: torRun, ovsDb: `unix:${join(torRun, 'db.sock')}` },
    hosts: hosts.map((h) => {
      const hdir = join(dir, h);
      const ovsRundir = join(hdir, 'ovs');
      const host = {
        name: h,
        netns: `${name}-${h}`,
        bridge: `br-${h}`,
        dir: hdir,
        ovsRundir,
        ovsDb: `unix:${join(ovsRundir, 'db.sock')}`,
        lxcPath: join(hdir, 'lxc'),
        uplink: 'uplink',
        torPort: h,
      };
      return {
        ...host,
        env: {
          FJORD_HOST_ID: h,
          FJORD_NETNS: host.netns,
          FJORD_BRIDGE: host.bridge,
          FJORD_LXC_PATH: host.lxcPath,
          FJORD_TEMPLATE_CACHE: join(dir, 'templates'),
          OVS_RUNDIR: ovsRundir,
        },
      };
    }),
  };
}
