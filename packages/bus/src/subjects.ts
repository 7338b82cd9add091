import { InvalidSubjectTokenError } from './errors.js';

/**
 * The only place a NATS subject string is built (STYLE.md item 10). Everything a host says or
 * hears lives under `<prefix>.v1.host.<host>.`, so a NATS credential can be limited to one host's
 * subjects (see deploy/nats). The prefix is `fjord` in production; tests use their own so that
 * test files do not hear each other.
 */

const tokenPattern = /^[A-Za-z0-9_-]{1,128}$/;

function token(role: string, value: string): string {
  if (!tokenPattern.test(value)) throw new InvalidSubjectTokenError(role, value);
  return value;
}

/** The per-host verbs of the worker protocol. */
export const HostVerb = {
  Register: 'register',
  Heartbeat: 'heartbeat',
  Desired: 'desired',
  Sync: 'sync',
  Status: 'status',
} as const;
/** One of the values of {@link HostVerb}. */
export type HostVerb = (typeof HostVerb)[keyof typeof HostVerb];

/** Subject builders for one deployment (one prefix). */
export interface Subjects {
  readonly prefix: string;
  /** `<prefix>.v1.host.<host>.<verb>` */
  host(host: string, verb: HostVerb): string;
  /** `<prefix>.v1.host.*.<verb>`: what the scheduler subscribes to. */
  anyHost(verb: HostVerb): string;
  /** The host name in a per-host subject, or undefined when the subject is not one. */
  hostOf(subject: string): string | undefined;
  /** `<prefix>.v1.leader.<verb>`: writes forwarded from any replica to the leader. */
  leader(verb: 'place' | 'delete' | 'fleet'): string;
  /** `<prefix>.v1.events.<tenant>`; `_fleet` for events not about a tenant. */
  events(tenant?: string): string;
  /** `<prefix>.v1.events.>` */
  allEvents(): string;
  /** JetStream stream names for this prefix. */
  readonly streams: { readonly desired: string; readonly events: string };
}

/** Builds the subject layout for `prefix` (default `fjord`). */
export function subjects(prefix = 'fjord'): Subjects {
  token('prefix', prefix);
  const base = `${prefix}.v1`;
  const upper = prefix.toUpperCase().replace(/-/g, '_');
  return {
    prefix,
    host: (host, verb) => `${base}.host.${token('host', host)}.${verb}`,
    anyHost: (verb) => `${base}.host.*.${verb}`,
    hostOf: (subject) => {
      const parts = subject.split('.');
      return parts.length === 5 && `${parts[0]}.${parts[1]}` === base && parts[2] === 'host' ? parts[3] : undefined;
    },
    leader: (verb) => `${base}.leader.${verb}`,
    events: (tenant) => `${base}.events.${tenant === undefined ? '_fleet' : token('tenant', tenant)}`,
    allEvents: () => `${base}.events.>`,
    streams: { desired: `${upper}_DESIRED`, events: `${upper}_EVENTS` },
  };
}
