/** The lab's state file: what `lab up` made and what has since been done to it. */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A client namespace attached to one tenant VLAN. */
export interface LabClient {
  vlan: number;
  netns: string;
  /** Its address with prefix, e.g. `10.20.0.250/24`. */
  address: string;
}

/** Contents of `<stateDir>/<name>/lab.json`. */
export interface LabState {
  version: 1;
  name: string;
  hosts: string[];
  /** Hosts that lost power (`labKill`) and were not healed. */
  killed: string[];
  /** Hosts whose control-plane connection is cut (`labPartition`). */
  partitioned: string[];
  /** Registered worker processes by host. */
  workers: Record<string, number>;
  clients: LabClient[];
  /** Control-plane services reached through the lab's relay (see relay.ts); none when absent. */
  controlPlane?: { name: string; target: string }[];
}

/** Reads the state file, or null when there is none (never made, or already torn down). */
export async function readState(file: string): Promise<LabState | null> {
  if (!existsSync(file)) return null;
  return JSON.parse(await readFile(file, 'utf8')) as LabState;
}

/** Writes the state file atomically. */
export async function writeState(file: string, state: LabState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  await rename(`${file}.tmp`, file);
}
