/**
 * Where a benchmark phase's CPU went: the time each part of the system used on this machine (the
 * scheduler process, every Postgres process, the NATS server, the benchmark's own process with its
 * client and simulated hosts), and how busy the machine's cores were. Read from /proc, so Linux
 * only; elsewhere `cpuMeter` returns undefined and the benchmark reports no breakdown.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Linux reports process times in USER_HZ ticks, 100 a second on every architecture Node runs on. */
const MS_PER_TICK = 10;

const PARTS = ['scheduler', 'postgres', 'nats', 'bench'] as const;
export type Part = (typeof PARTS)[number];

interface Reading {
  /** CPU ticks by pid, for the processes of each part but the benchmark's own. */
  ticks: Map<number, { part: Part; ticks: number }>;
  benchMs: number;
  /** Machine-wide busy and total ticks, all cores (/proc/stat). */
  busy: number;
  total: number;
}

function processTicks(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm, ticks: Number(fields[11]) + Number(fields[12]) }; // utime, stime
  } catch {
    return undefined; // gone since the listing
  }
}

/** CPU milliseconds a process has used (user and system), or undefined when it is gone or not on Linux. */
export function processCpuMs(pid: number): number | undefined {
  const p = processTicks(pid);
  return p && p.ticks * MS_PER_TICK;
}

function read(schedulerPid: number): Reading {
  const ticks = new Map<number, { part: Part; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const p = processTicks(pid);
    if (!p) continue;
    const part: Part | undefined = pid === schedulerPid ? 'scheduler' : p.comm === 'postgres' ? 'postgres' : p.comm === 'nats-server' ? 'nats' : undefined;
    if (part) ticks.set(pid, { part, ticks: p.ticks });
  }
  const usage = process.cpuUsage();
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3]! + cpu[4]!; // idle, iowait
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0); // up to steal; guest time is inside user
  return { ticks, benchMs: (usage.user + usage.system) / 1000, busy: total - idle, total };
}

/** A phase's CPU: milliseconds per placement by part, and the machine's busy share in percent. */
export type PhaseCpu = Record<Part, number> & { machineBusyPct: number };

/**
 * Starts measuring; the returned function ends the phase and gives its CPU per placement. A
 * process that exits during the phase is left out (the benchmark's processes all live through it).
 */
export function cpuMeter(schedulerPid: number): ((placements: number) => PhaseCpu) | undefined {
  if (!existsSync('/proc/stat')) return undefined;
  const start = read(schedulerPid);
  return (placements) => {
    const end = read(schedulerPid);
    const ms: Record<Part, number> = { scheduler: 0, postgres: 0, nats: 0, bench: end.benchMs - start.benchMs };
    for (const [pid, { part, ticks }] of end.ticks) ms[part] += (ticks - (start.ticks.get(pid)?.ticks ?? 0)) * MS_PER_TICK;
    const perPlacement = Object.fromEntries(PARTS.map((part) => [part, Math.round((ms[part] / placements) * 1000) / 1000])) as Record<Part, number>;
    return { ...perPlacement, machineBusyPct: Math.round(((end.busy - start.busy) / Math.max(1, end.total - start.total)) * 100) };
  };
}
