import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DriverInputError } from '../errors.js';
import { run, type Exec, type ExecOptions } from '../exec.js';
import { PortAttach, renderBusyboxRcs, renderLxcConfig, renderStartHostScript, type LxcRootfs } from './lxc-config.js';
import { checkIfName, checkIpv4, checkVlan } from './ovs-plan.js';
import { ContainerState, type ContainerInfo, type ContainerRuntime, type ContainerSpec, type CreateOutcome } from './types.js';

/** Where one host's containers live and how to reach its namespace. */
export interface LxcRuntimeOptions {
  /** The host's LXC path (`lxc-* -P`); only Fjord's containers live here. */
  lxcPath: string;
  /** The host's network namespace; every `lxc-*` command runs in it (LXC's command socket is per netns). */
  netns?: string;
  /** The host's OVS run directory, passed as `OVS_RUNDIR` to `lxc-start` when LXC attaches ports. */
  ovsRundir?: string;
  /** Who plugs the veth into the bridge (default: the switch driver; see lxc-config.ts). */
  attach?: PortAttach;
  /** Where prepared template root filesystems are kept (default `<lxcPath>/.fjord-templates`). */
  templateCache?: string;
  /** Seconds a graceful stop may take before LXC kills the container (default 5). */
  stopTimeoutS?: number;
  /**
   * Root filesystems: `overlay` (default) layers a per-container directory over the shared template
   * (create copies nothing); `copy` gives each container a full copy (for filesystems without overlay).
   */
  storage?: 'overlay' | 'copy';
  /** Turn TX checksum offload off in each container at start (default true; see renderStartHostScript). */
  txChecksumOff?: boolean;
  /** Command runner (default: {@link run}). */
  exec?: Exec;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const RCS = 'etc/init.d/rcS';
const HOOK = 'fjord-start-host.sh';

/** Maps an LXC state word to the domain's {@link ContainerState}. */
export function toContainerState(lxcState: string): ContainerState {
  if (lxcState === 'RUNNING') return ContainerState.Running;
  if (lxcState === 'STOPPED') return ContainerState.Stopped;
  return ContainerState.Transitioning;
}

/** The host-side veth name in an LXC config (`lxc.net.0.veth.pair`), if set. */
export function vethPairOf(config: string): string | null {
  return /^lxc\.net\.0\.veth\.pair\s*=\s*(\S+)\s*$/m.exec(config)?.[1] ?? null;
}

/** Parses `lxc-info -s -p` output (`State: RUNNING`, `PID: 123`). */
export function parseLxcInfo(stdout: string): { state: ContainerState; pid: number | null } {
  const state = /^State:\s*(\S+)/m.exec(stdout)?.[1] ?? '';
  const pid = /^PID:\s*(\d+)/m.exec(stdout)?.[1];
  return { state: toContainerState(state), pid: pid ? Number(pid) : null };
}

/** Parses `lxc-ls -f -F NAME,STATE,PID` output. */
export function parseLxcLs(stdout: string): ContainerInfo[] {
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f): f is [string, string, ...string[]] => f.length >= 2 && f[0] !== '')
    .map(([name, state, pid]) => ({ name, state: toContainerState(state), pid: pid && /^\d+$/.test(pid) ? Number(pid) : null }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Prepared template root filesystems, shared by runtimes in this process: cache dir + template → promise. */
const templates = new Map<string, Promise<string>>();

/**
 * {@link ContainerRuntime} over the `lxc-*` tools. A template's root filesystem is built once with
 * `lxc-create -t <template>` into the template cache (a busybox `lxc-create` takes seconds); each
 * container then gets an overlay over it (or a copy), its config from {@link renderLxcConfig} and
 * its boot script from {@link renderBusyboxRcs}. `start` is a single `lxc-start`: its start-host hook
 * ({@link renderStartHostScript}) turns TX checksum offload off and brings the host veth up.
 */
export class LxcRuntime implements ContainerRuntime {
  private readonly lxcPath: string;
  private readonly netns: string | undefined;
  private readonly env: Record<string, string> | undefined;
  private readonly attach: PortAttach;
  private readonly templateCache: string;
  private readonly stopTimeoutS: number;
  private readonly storage: 'overlay' | 'copy';
  private readonly txChecksumOff: boolean;
  private readonly exec: Exec;

  constructor(opts: LxcRuntimeOptions) {
    this.lxcPath = opts.lxcPath;
    this.netns = opts.netns;
    this.attach = opts.attach ?? PortAttach.SwitchDriver;
    this.env = opts.ovsRundir ? { OVS_RUNDIR: opts.ovsRundir } : undefined;
    this.templateCache = opts.templateCache ?? join(opts.lxcPath, '.fjord-templates');
    this.stopTimeoutS = opts.stopTimeoutS ?? 5;
    this.storage = opts.storage ?? 'overlay';
    this.txChecksumOff = opts.txChecksumOff ?? true;
    this.exec = opts.exec ?? run;
  }

  private lxc(tool: string, name: string, args: readonly string[], what: string, extra: ExecOptions = {}) {
    return this.exec(tool, ['-P', this.lxcPath, '-n', name, ...args], { netns: this.netns, env: this.env, what, ...extra });
  }

  private dir(name: string): string {
    if (!NAME.test(name)) throw new DriverInputError('name', `bad container name ${JSON.stringify(name)}`);
    return join(this.lxcPath, name);
  }

  /** Builds (once) and returns the root filesystem of `template` in the cache. */
  private baseRootfs(template: string): Promise<string> {
    if (!NAME.test(template)) throw new DriverInputError('template', `bad template name ${JSON.stringify(template)}`);
    const key = join(this.templateCache, template);
    let p = templates.get(key);
    if (!p) {
      p = this.buildTemplate(template).catch((e: unknown) => {
        templates.delete(key);
        throw e;
      });
      templates.set(key, p);
    }
    return p;
  }

  private async buildTemplate(template: string): Promise<string> {
    const final = join(this.templateCache, template);
    const rootfs = join(final, 'rootfs');
    if (existsSync(join(final, '.ready'))) return rootfs;
    await mkdir(this.templateCache, { recursive: true });
    const tmpName = `${template}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
    const tmp = join(this.templateCache, tmpName);
    await this.exec('lxc-create', ['-P', this.templateCache, '-n', tmpName, '-t', template], { what: `build template ${template}` });
    await writeFile(join(tmp, '.ready'), '');
    try {
      await rename(tmp, final);
    } catch (e) {
      // Another process built it first; use theirs.
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(final, '.ready'))) throw e;
    }
    return rootfs;
  }

  async create(spec: ContainerSpec): Promise<CreateOutcome> {
    const dir = this.dir(spec.name);
    checkIfName(spec.network.vethPair, 'network.vethPair');
    checkVlan(spec.network.vlan, 'network.vlan');
    checkIpv4(spec.network.ip, 'network.ip');
    if (spec.network.gateway !== undefined) checkIpv4(spec.network.gateway, 'network.gateway');
    if (!Number.isInteger(spec.network.prefix) || spec.network.prefix < 1 || spec.network.prefix > 32) {
      throw new DriverInputError('network.prefix', `bad prefix length ${spec.network.prefix}: want 1-32`);
    }
    if (spec.network.hwaddr !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.network.hwaddr)) {
      throw new DriverInputError('network.hwaddr', `bad MAC address ${JSON.stringify(spec.network.hwaddr)}`);
    }
    const base = await this.baseRootfs(spec.template);
    const rootfs: LxcRootfs = this.storage === 'overlay' ? { kind: 'overlay', lower: base, upper: join(dir, 'delta') } : { kind: 'dir', path: join(dir, 'rootfs') };
    const top = rootfs.kind === 'overlay' ? rootfs.upper : rootfs.path;
    const hookPath = join(dir, HOOK);
    const config = renderLxcConfig({ name: spec.name, rootfs, network: spec.network, attach: this.attach, startHostScript: hookPath });
    const hook = renderStartHostScript({ vethPair: spec.network.vethPair, txChecksumOff: this.txChecksumOff, attachWaitCs: 200 });
    const configPath = join(dir, 'config');
    const rcsPath = join(top, RCS);
    const baseRcs = () => readFile(join(base, RCS), 'utf8').catch(() => '#!/bin/sh\n');
    if (existsSync(configPath)) {
      const [oldConfig, oldRcs, oldHook] = await Promise.all([
        readFile(configPath, 'utf8'),
        readFile(rcsPath, 'utf8').catch(() => null),
        readFile(hookPath, 'utf8').catch(() => null),
      ]);
      const rcs = renderBusyboxRcs(oldRcs ?? (await baseRcs()), spec.command);
      if (oldConfig === config && oldRcs === rcs && oldHook === hook) return 'unchanged';
      await mkdir(dirname(rcsPath), { recursive: true });
      await writeFile(rcsPath, rcs, { mode: 0o755 });
      await writeFile(hookPath, hook, { mode: 0o755 });
      await writeFile(configPath, config);
      return 'updated';
    }
    // A directory without a config is a create that died half-way: start over.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(rcsPath), { recursive: true });
    if (rootfs.kind === 'dir') {
      await rm(rootfs.path, { recursive: true, force: true });
      await this.exec('cp', ['-a', base, rootfs.path], { what: `copy ${spec.template} root filesystem for ${spec.name}` });
    }
    await writeFile(rcsPath, renderBusyboxRcs(await baseRcs(), spec.command), { mode: 0o755 });
    await writeFile(hookPath, hook, { mode: 0o755 });
    // The config appears last, atomically: its presence means the container exists.
    await writeFile(`${configPath}.tmp`, config);
    await rename(`${configPath}.tmp`, configPath);
    return 'created';
  }

  /** State and init pid of one container, or null when it does not exist. */
  async info(name: string): Promise<ContainerInfo | null> {
    if (!existsSync(join(this.dir(name), 'config'))) return null;
    const r = await this.lxc('lxc-info', name, ['-s', '-p'], `inspect container ${name}`);
    return { name, ...parseLxcInfo(r.stdout) };
  }

  async start(name: string): Promise<void> {
    if (!existsSync(join(this.dir(name), 'config'))) throw new DriverInputError('name', `start container ${name}: no such container in ${this.lxcPath}`);
    // One command on the usual path: the config's start-host hooks prepare the network before
    // lxc-start returns. lxc-start also fails when the container already runs: that is done, too.
    try {
      await this.lxc('lxc-start', name, ['-d'], `start container ${name}`);
    } catch (e) {
      if ((await this.info(name))?.state === ContainerState.Running) return;
      throw e;
    }
  }

  async stop(name: string, opts: { force?: boolean } = {}): Promise<void> {
    const info = await this.info(name);
    if (!info || info.state === ContainerState.Stopped) return;
    const how = opts.force ? ['-k'] : ['-t', String(this.stopTimeoutS)];
    // lxc-stop exits 2 when the container is not running (it stopped meanwhile): that is done, too.
    await this.lxc('lxc-stop', name, how, `stop container ${name}`, { okExitCodes: [2] });
  }

  async destroy(name: string): Promise<void> {
    const dir = this.dir(name);
    if (!existsSync(dir)) return;
    if (existsSync(join(dir, 'config'))) {
      await this.stop(name, { force: true });
      await this.lxc('lxc-destroy', name, [], `destroy container ${name}`);
    }
    await rm(dir, { recursive: true, force: true });
  }

  async list(): Promise<ContainerInfo[]> {
    if (!existsSync(this.lxcPath)) return [];
    const r = await this.exec('lxc-ls', ['-P', this.lxcPath, '-f', '-F', 'NAME,STATE,PID'], { netns: this.netns, what: `list containers in ${this.lxcPath}` });
    return parseLxcLs(r.stdout);
  }
}
