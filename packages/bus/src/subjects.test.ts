import { describe, expect, it } from 'vitest';
import { InvalidSubjectTokenError } from './errors.js';
import { HostVerb, subjects } from './subjects.js';

describe('subjects()', () => {
  const s = subjects('fjord');

  it('puts everything a host says or hears under its own prefix', () => {
    expect(s.host('hv1', HostVerb.Heartbeat)).toBe('fjord.v1.host.hv1.heartbeat');
    expect(s.anyHost(HostVerb.Status)).toBe('fjord.v1.host.*.status');
    expect(s.hostOf('fjord.v1.host.hv1.status')).toBe('hv1');
    expect(s.hostOf('fjord.v1.events.acme')).toBeUndefined();
  });

  it.each(['', 'a.b', 'a*', '>', 'with space'])('refuses the host token %j', (host) => {
    expect(() => s.host(host, HostVerb.Register)).toThrow(InvalidSubjectTokenError);
  });

  it('derives stream names from the prefix so test files do not share streams', () => {
    expect(subjects('fjtest-ab12').streams.desired).toBe('FJTEST_AB12_DESIRED');
  });
});
