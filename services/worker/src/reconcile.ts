/**
 * Executes reconcile plans (packages/core `planReconcile`) through a host's drivers. Each pass
 * observes the host, plans, and runs the plan; every driver call is idempotent, so a pass that
 * fails half-way is simply followed by another. There are no retries here: the agent's control
 * loop runs the next pass on the next desired state, sync or periodic tick.
 */
import type { Logger } from 'pino';
import {
  commandArgv,
  containerMac,
  planReconcile,
  vethName,
  type DesiredContainer,
  type ObservedRuntimeState,
  type ReconcileAction,
  type WantedPort,
} from '@fjord/core';
import { ContainerState, type ContainerRuntime, type ContainerSpec, type SwitchDriver } from './drivers/types.js';

/** A container's state as the worker reports it to the scheduler. */
export const ReportedState = {
  Running: 'RUNNING',
  Stopped: 'STOPPED',
  Failed: 'FAILED',
} as const;
/** One of the values of {@link ReportedState}. */
export type ReportedState = (typeof ReportedState)[keyof typeof ReportedState];

/**
 * What a container runs when its placement names no command: busybox httpd on port 80 serving a
 * page that names the container (tenant/name and runtime name), so that who answers at an address
 * can be seen from outside. Tenant and name are tokens ([A-Za-z0-9_-]) and need no quoting.
 */
export function defaultCommand(c: Pick<DesiredContainer, 'tenant' | 'name'>): string[] {
  return ['/bin/sh', '-c', `mkdir -p /www && echo "${c.tenant}/${c.name} ($(hostname))" > /www/index.html && exec httpd -f -p 80 -h /www`];
}

/** One desired container's state after a reconcile pass. */
export interface ContainerReport {
  runtimeName: string;
  state: ReportedState;
  /** Why it failed (or is not running); empty when running. */
  message: string;
}

/** What one reconcile pass did and found. */
export interface ReconcileResult {
  /** One report per desired container, in the order given. */
  containers: ContainerReport[];
  /** Number of plan actions run (0 when the host already matched). */
  actions: number;
  /** Actions that failed, as messages naming what failed (also logged). */
  errors: string[];
}

/** The drivers and options a {@link Reconciler} works with. */
export interface ReconcilerOptions {
  switch: SwitchDriver;
  runtime: ContainerRuntime;
  log: Logger;
  /** Template used when a desired container names none (default `busybox`). */
  defaultTemplate?: string;
  /** Containers created or started at once in one pass (default 4). */
  parallelStarts?: number;
}

/** Actions that concern one container each and may run side by side. */
const PER_CONTAINER: ReadonlySet<ReconcileAction['kind']> = new Set(['create-container', 'start-container', 'recreate-container']);

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Converges one host to a list of desired containers. Not safe for concurrent passes: the agent
 * serializes them.
 */
export class Reconciler {
  private readonly sw: SwitchDriver;
  private readonly runtime: ContainerRuntime;
  private readonly log: Logger;
  private readonly defaultTemplate: string;
  private readonly parallelStarts: number;
  private bridgeReady = false;

  constructor(opts: ReconcilerOptions) {
    this.sw = opts.switch;
    this.runtime = opts.runtime;
    this.log = opts.log;
    this.defaultTemplate = opts.defaultTemplate ?? 'busybox';
    this.parallelStarts = opts.parallelStarts ?? 4;
  }

  /** The runtime spec of a desired container on this host's bridge. */
  specOf(c: DesiredContainer): ContainerSpec {
    const argv = commandArgv(c.command) ?? defaultCommand(c);
    return {
      name: c.runtimeName,
      template: c.template || this.defaultTemplate,
      network: {
        bridge: this.sw.bridge,
        vlan: c.vlan,
        vethPair: vethName(c.runtimeName),
        ip: c.address,
        prefix: c.prefixLength,
        hwaddr: containerMac(c.vlan, c.address),
        ...(c.gateway ? { gateway: c.gateway } : {}),
      },
      ...(argv ? { command: argv } : {}),
    };
  }

  /** Runs one pass: observe, plan, act; reports every desired container. Never throws. */
  async reconcile(desired: readonly DesiredContainer[]): Promise<ReconcileResult> {
    const failed = new Map<string, string>();
    const errors: string[] = [];
    const fail = (names: readonly string[], what: string, err: unknown): void => {
      const text = `${what}: ${message(err)}`;
      errors.push(text);
      this.log.warn({ err, containers: names }, text);
      for (const n of names) if (!failed.has(n)) failed.set(n, text);
    };

    let states: Map<string, ObservedRuntimeState>;
    let plan: ReturnType<typeof planReconcile>;
    let stalePorts: Set<string>;
    try {
      if (!this.bridgeReady) {
        await this.sw.ensureBridge();
        this.bridgeReady = true;
      }
      const [containers, ports] = await Promise.all([this.runtime.list(), this.sw.listPorts()]);
      states = new Map(containers.map((c) => [c.name, toObserved(c.state)]));
      // Ports that exist before this pass: replugged before their container starts (see replugPorts).
      stalePorts = new Set(ports.map((p) => p.name));
      plan = planReconcile(desired, { containers: [...states].map(([name, state]) => ({ name, state })), ports });
    } catch (err) {
      this.bridgeReady = false;
      const names = desired.map((c) => c.runtimeName);
      fail(names, `observe host (bridge ${this.sw.bridge})`, err);
      return { containers: this.report(desired, new Map(), failed), actions: 0, errors };
    }
    for (const bad of plan.invalid) fail([bad.runtimeName], `container ${bad.runtimeName}`, new Error(bad.reason));

    const runOne = async (action: ReconcileAction): Promise<void> => {
      try {
        await this.run(action, failed, states, stalePorts);
      } catch (err) {
        const [names, what] = describe(action);
        fail(names, what, err);
        if (action.kind === 'remove-container') states.delete(action.name);
      }
    };
    // In plan order, except that the per-container actions (one contiguous run in every plan) go
    // a few at a time: a container start mostly waits on processes, and hosts start many at once.
    const actions = plan.actions;
    for (let i = 0; i < actions.length; ) {
      if (!PER_CONTAINER.has(actions[i]!.kind)) {
        await runOne(actions[i++]!);
        continue;
      }
      const group: ReconcileAction[] = [];
      while (i < actions.length && PER_CONTAINER.has(actions[i]!.kind)) group.push(actions[i++]!);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(this.parallelStarts, group.length) }, async () => {
          while (next < group.length) await runOne(group[next++]!);
        }),
      );
    }
    return { containers: this.report(desired, states, failed), actions: plan.actions.length, errors };
  }

  /**
   * Replugs a container's port before the container (re)starts if the switch may hold a stale
   * interface for it: always after the container ran (its veth vanished while the port was attached),
   * and for a new container only when the port predates this pass.
   */
  private async replugIfStale(runtimeName: string, stalePorts: Set<string>, ranBefore: boolean): Promise<void> {
    const port = vethName(runtimeName);
    if (!stalePorts.delete(port) && !ranBefore) return;
    await this.sw.replugPorts([port]);
  }

  private async run(action: ReconcileAction, failed: ReadonlyMap<string, string>, states: Map<string, ObservedRuntimeState>, stalePorts: Set<string>): Promise<void> {
    switch (action.kind) {
      case 'remove-container':
        await this.runtime.stop(action.name);
        await this.runtime.destroy(action.name);
        states.delete(action.name);
        return;
      case 'remove-ports':
        await this.sw.removePorts(action.names);
        return;
      case 'apply-ports':
        for (const name of (await this.sw.applyPorts(action.ports.map(toPortSpec))).added) stalePorts.delete(name);
        return;
      case 'create-container':
        if (failed.has(action.container.runtimeName)) return;
        await this.replugIfStale(action.container.runtimeName, stalePorts, false);
        states.set(action.container.runtimeName, 'stopped');
        await this.runtime.create(this.specOf(action.container));
        await this.runtime.start(action.container.runtimeName);
        states.set(action.container.runtimeName, 'running');
        return;
      case 'start-container':
        if (failed.has(action.name)) return;
        await this.replugIfStale(action.name, stalePorts, true);
        await this.runtime.start(action.name);
        states.set(action.name, 'running');
        return;
      case 'recreate-container': {
        const name = action.container.runtimeName;
        if (failed.has(name)) return;
        await this.runtime.stop(name);
        states.set(name, 'stopped');
        await this.runtime.destroy(name);
        states.delete(name);
        await this.replugIfStale(name, stalePorts, true);
        await this.runtime.create(this.specOf(action.container));
        states.set(name, 'stopped');
        await this.runtime.start(name);
        states.set(name, 'running');
        return;
      }
      case 'confirm-ports': {
        const done = action.ports.filter((p) => !failed.has(p.container));
        if (done.length > 0) await this.sw.applyPorts(done.map(toPortSpec));
        return;
      }
    }
  }

  private report(desired: readonly DesiredContainer[], states: ReadonlyMap<string, ObservedRuntimeState>, failed: ReadonlyMap<string, string>): ContainerReport[] {
    return desired.map((c) => {
      const err = failed.get(c.runtimeName);
      if (err !== undefined) return { runtimeName: c.runtimeName, state: ReportedState.Failed, message: err };
      const state = states.get(c.runtimeName);
      if (state === 'running') return { runtimeName: c.runtimeName, state: ReportedState.Running, message: '' };
      return { runtimeName: c.runtimeName, state: ReportedState.Stopped, message: state === 'transitioning' ? 'in transition' : state === undefined ? 'missing' : '' };
    });
  }
}

function toObserved(state: ContainerState): ObservedRuntimeState {
  return state === ContainerState.Running ? 'running' : state === ContainerState.Stopped ? 'stopped' : 'transitioning';
}

function toPortSpec(p: WantedPort): { name: string; vlan: number; externalIds: Readonly<Record<string, string>> } {
  return { name: p.name, vlan: p.vlan, externalIds: p.externalIds };
}

/** The containers an action concerns and what it was doing, for failure messages. */
function describe(action: ReconcileAction): [string[], string] {
  switch (action.kind) {
    case 'remove-container':
      return [[], `remove container ${action.name}`];
    case 'remove-ports':
      return [[], `remove ports ${action.names.join(',')}`];
    case 'apply-ports':
    case 'confirm-ports': {
      const names = action.ports.map((p) => p.container);
      return [action.kind === 'apply-ports' ? names : [], `apply ports ${action.ports.map((p) => p.name).join(',')}`];
    }
    case 'create-container':
      return [[action.container.runtimeName], `create container ${action.container.runtimeName}`];
    case 'start-container':
      return [[action.name], `start container ${action.name}`];
    case 'recreate-container':
      return [[action.container.runtimeName], `recreate container ${action.container.runtimeName}`];
  }
}
