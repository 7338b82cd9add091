import { InvalidArgumentError, isLabelKey, parseConstraints, type LabelConstraint, type PlacementRequest } from '@fjord/core';
import type { placementV1 } from '@fjord/proto';
import { checkText, type ContainerRecord } from '@fjord/store';

/** The default LXC template. */
export const DEFAULT_TEMPLATE = 'busybox';

/** A validated request to place one container (the domain form of `ContainerSpec`). */
export interface ContainerSpecInput {
  tenant: string;
  name: string;
  network: string;
  template: string;
  cpuMillis: number;
  memoryBytes: number;
  constraints: LabelConstraint[];
  /** The constraints as the client wrote them, stored and compared for idempotency. */
  constraintTexts: string[];
  antiAffinityGroup: string | undefined;
  spreadLabel: string | undefined;
  command: string;
}

const namePattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_CPU_MILLIS = 1_024_000;
const MAX_MEMORY_BYTES = 2 ** 50;

function checkName(value: string, field: string): string {
  if (!namePattern.test(value)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not a valid name (lowercase letters, digits and '-', at most 63)`);
  }
  return value;
}

/**
 * Validates a protobuf ContainerSpec at the edge. `prefix` names where it sits in the request
 * (`container` or `containers[3]`), so the error names the exact field.
 */
export function specFromProto(spec: placementV1.ContainerSpec | undefined, prefix: string): ContainerSpecInput {
  if (!spec) throw new InvalidArgumentError(prefix, 'is required');
  const field = (name: string) => `${prefix}.${name}`;
  const tenant = checkName(spec.tenant, field('tenant'));
  const name = checkName(spec.name, field('name'));
  const network = checkName(spec.network, field('network'));
  if (spec.cpuMillis <= 0 || spec.cpuMillis > MAX_CPU_MILLIS) {
    throw new InvalidArgumentError(field('cpu_millis'), `must be between 1 and ${MAX_CPU_MILLIS}, got ${spec.cpuMillis}`);
  }
  const memoryBytes = Number(spec.memoryBytes);
  if (memoryBytes <= 0 || memoryBytes > MAX_MEMORY_BYTES) {
    throw new InvalidArgumentError(field('memory_bytes'), `must be between 1 and ${MAX_MEMORY_BYTES}, got ${spec.memoryBytes}`);
  }
  const parsed = parseConstraints(spec.constraints, field('constraints'));
  if (!parsed.ok) throw parsed.error;
  const template = spec.template === '' ? DEFAULT_TEMPLATE : spec.template;
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(template)) throw new InvalidArgumentError(field('template'), `${JSON.stringify(template)} is not a template name`);
  const antiAffinityGroup = spec.antiAffinityGroup === '' ? undefined : checkName(spec.antiAffinityGroup, field('anti_affinity_group'));
  const spreadLabel = spec.spreadLabel === '' ? undefined : spec.spreadLabel;
  if (spreadLabel !== undefined && !antiAffinityGroup) {
    throw new InvalidArgumentError(field('spread_label'), 'needs anti_affinity_group');
  }
  if (spreadLabel !== undefined && !isLabelKey(spreadLabel)) {
    throw new InvalidArgumentError(field('spread_label'), `${JSON.stringify(spreadLabel)} is not a label key (letters, digits, '.', '_', '-' or '/')`);
  }
  checkText(spec.command, field('command'), 1024);
  return {
    tenant,
    name,
    network,
    template,
    cpuMillis: spec.cpuMillis,
    memoryBytes,
    constraints: parsed.value,
    constraintTexts: [...spec.constraints],
    antiAffinityGroup,
    spreadLabel,
    command: spec.command,
  };
}

/** The placement engine's view of a spec on a physical network; groups are per tenant. */
export function toPlacementRequest(spec: ContainerSpecInput, physicalNetwork: string): PlacementRequest {
  return {
    name: spec.name,
    tenant: spec.tenant,
    network: spec.network,
    physicalNetwork,
    cpuMillis: spec.cpuMillis,
    memoryBytes: spec.memoryBytes,
    constraints: spec.constraints,
    ...(spec.antiAffinityGroup ? { antiAffinityGroup: `${spec.tenant}/${spec.antiAffinityGroup}` } : {}),
    ...(spec.spreadLabel ? { spreadLabel: spec.spreadLabel } : {}),
  };
}

/** The placement engine's view of a stored container (to release it from the snapshot). */
export function recordToPlacementRequest(c: ContainerRecord, physicalNetwork: string): PlacementRequest {
  return {
    name: c.name,
    tenant: c.tenant,
    network: c.network,
    physicalNetwork,
    cpuMillis: c.cpuMillis,
    memoryBytes: c.memoryBytes,
    constraints: [],
    ...(c.antiAffinityGroup ? { antiAffinityGroup: `${c.tenant}/${c.antiAffinityGroup}` } : {}),
  };
}

/** True when a stored container was placed from this very spec (a retried request). */
export function sameSpec(c: ContainerRecord, spec: ContainerSpecInput): boolean {
  return (
    c.network === spec.network &&
    c.template === spec.template &&
    c.cpuMillis === spec.cpuMillis &&
    c.memoryBytes === spec.memoryBytes &&
    c.command === spec.command &&
    (c.antiAffinityGroup ?? undefined) === spec.antiAffinityGroup &&
    (c.spreadLabel ?? undefined) === spec.spreadLabel &&
    c.constraints.join('\n') === spec.constraintTexts.join('\n')
  );
}
