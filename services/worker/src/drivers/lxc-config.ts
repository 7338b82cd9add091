/**
 * Pure renderers for LXC: a container's config file and the busybox boot script (STYLE.md item 9).
 * Tested against whole expected text in lxc-config.test.ts.
 */
import type { ContainerNetwork } from './types.js';

/** Who plugs the container's veth into the OVS bridge. */
export const PortAttach = {
  /** The switch driver owns the port (added before start, tagged, marked); LXC only makes the veth. */
  SwitchDriver: 'switch-driver',
  /** LXC adds and removes the port itself (`lxc.net.0.link` + `veth.vlan.id`); needs `OVS_RUNDIR`. */
  Lxc: 'lxc',
} as const;
/** Who plugs the container's veth into the OVS bridge. */
export type PortAttach = (typeof PortAttach)[keyof typeof PortAttach];

/** Where a container's root filesystem lives. */
export type LxcRootfs =
  /** A shared, read-only template tree under a per-container writable layer (no copy at create). */
  | { kind: 'overlay'; lower: string; upper: string }
  /** A private directory (a full copy of the template). */
  | { kind: 'dir'; path: string };

/** Everything the LXC config of one container depends on. */
export interface LxcConfigInput {
  name: string;
  rootfs: LxcRootfs;
  network: ContainerNetwork;
  attach: PortAttach;
  /** Path of the script rendered by {@link renderStartHostScript}, run as the start-host hook. */
  startHostScript: string;
}

/** What the start-host script does. */
export interface StartHostScriptInput {
  /** Host end of the container's veth. */
  vethPair: string;
  /**
   * Turn TX checksum offload off inside the container (needed with OVS's userspace datapath, where
   * TCP otherwise fails on bad checksums; costs CPU on a kernel datapath).
   */
  txChecksumOff: boolean;
  /** How long to wait for the switch to attach the host end, in hundredths of a second. */
  attachWaitCs: number;
}

/**
 * Renders the start-host hook (run by `sh`, in the host's namespace, with `LXC_PID` the container's
 * init): TX checksum offload off in the container, then the host end of the veth brought up once the
 * switch has attached it. Why wait: ovs-vswitchd sets an attached port promiscuous from interface
 * flags it cached when it opened the device, which can be from before LXC brought the link up; its
 * write then takes the link down again. The promiscuous flag shows that write happened, so the link
 * is brought up after it. Without a switch attaching the port the wait ends after `attachWaitCs`.
 */
export function renderStartHostScript(c: StartHostScriptInput): string {
  // Builtins where possible: creating processes is what a start costs.
  const lines = ['#!/bin/sh', '# Written by Fjord: prepares the container network before LXC reports it running.', 'set -e'];
  if (c.txChecksumOff) lines.push('nsenter -t "$LXC_PID" -n ethtool -K eth0 tx off >/dev/null');
  lines.push(
    'i=0',
    `while [ "$i" -lt ${c.attachWaitCs} ]; do`,
    `  { read -r flags </sys/class/net/${c.vethPair}/flags; } 2>/dev/null || flags=0`,
    '  [ $((flags & 0x100)) -ne 0 ] && break',
    '  sleep 0.01',
    '  i=$((i + 1))',
    'done',
    `ip link set dev ${c.vethPair} up`,
  );
  return lines.join('\n') + '\n';
}

/** Renders the complete LXC config of one container. */
export function renderLxcConfig(c: LxcConfigInput): string {
  const n = c.network;
  const lines = [
    '# Written by Fjord from the container spec; edits are overwritten.',
    `lxc.uts.name = ${c.name}`,
    c.rootfs.kind === 'overlay' ? `lxc.rootfs.path = overlay:${c.rootfs.lower}:${c.rootfs.upper}` : `lxc.rootfs.path = dir:${c.rootfs.path}`,
    'lxc.signal.halt = SIGUSR1',
    'lxc.signal.reboot = SIGTERM',
    'lxc.autodev = 1',
    'lxc.tty.max = 1',
    'lxc.pty.max = 1',
    'lxc.cap.drop = sys_module mac_admin mac_override sys_time',
    'lxc.mount.auto = cgroup:mixed proc:mixed sys:ro',
    'lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0',
    'lxc.mount.entry = /lib lib none ro,bind,optional 0 0',
    'lxc.mount.entry = /usr/lib usr/lib none ro,bind,optional 0 0',
    'lxc.mount.entry = /lib64 lib64 none ro,bind,optional 0 0',
    'lxc.net.0.type = veth',
    'lxc.net.0.name = eth0',
    'lxc.net.0.flags = up',
    `lxc.net.0.veth.pair = ${n.vethPair}`,
  ];
  if (c.attach === PortAttach.Lxc) {
    lines.push(`lxc.net.0.link = ${n.bridge}`, `lxc.net.0.veth.vlan.id = ${n.vlan}`);
  }
  if (n.hwaddr) lines.push(`lxc.net.0.hwaddr = ${n.hwaddr}`);
  lines.push(`lxc.net.0.ipv4.address = ${n.ip}/${n.prefix}`);
  if (n.gateway) lines.push(`lxc.net.0.ipv4.gateway = ${n.gateway}`);
  // Run by lxc-start in the host's namespace before it reports the container running, so start
  // needs no further commands (see renderStartHostScript).
  lines.push('lxc.hook.version = 1', `lxc.hook.start-host = ${c.startHostScript}`);
  return lines.join('\n') + '\n';
}

const BEGIN = '# fjord: begin command';
const END = '# fjord: end command';

/** Quotes one argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Rewrites the busybox template's `/etc/init.d/rcS`: drops `udhcpc` (it flushes the static address
 * LXC configured) and any earlier Fjord block, then appends `command` to run in the background,
 * detached from the console.
 */
export function renderBusyboxRcs(original: string, command?: readonly string[]): string {
  const kept: string[] = [];
  let inBlock = false;
  for (const line of original.split('\n')) {
    if (line === BEGIN) inBlock = true;
    else if (line === END) inBlock = false;
    else if (!inBlock && !/\budhcpc\b/.test(line)) kept.push(line);
  }
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  // In a session of its own with no terminal: started from rcS it would share the console, and the
  // console's hangup when init starts its shell there kills it (SIGHUP), at random, early on.
  if (command && command.length > 0) kept.push(BEGIN, `setsid ${command.map(shellQuote).join(' ')} </dev/null >/dev/null 2>&1 &`, END);
  return kept.join('\n') + '\n';
}
