import { describe, expect, it } from 'vitest';
import { CommandError } from './errors.js';
import { run, wrapNetns } from './exec.js';

describe('wrapNetns()', () => {
  it('runs the command through ip netns exec only when a namespace is given', () => {
    expect(wrapNetns('lxc-ls', ['-P', '/x'], 'fj-hv1')).toEqual(['ip', ['netns', 'exec', 'fj-hv1', 'lxc-ls', '-P', '/x']]);
    expect(wrapNetns('lxc-ls', ['-P', '/x'])).toEqual(['lxc-ls', ['-P', '/x']]);
  });
});

describe('run()', () => {
  it('passes arguments verbatim, without a shell, and adds the environment', async () => {
    const r = await run('node', ['-e', 'console.log(process.argv[1], process.env.FJ_TEST)', '$HOME; echo no'], { env: { FJ_TEST: 'yes' } });
    expect(r).toEqual({ stdout: '$HOME; echo no yes\n', stderr: '', exitCode: 0 });
  });

  it('returns documented exit codes as values', async () => {
    expect((await run('node', ['-e', 'process.exit(2)'], { okExitCodes: [2] })).exitCode).toBe(2);
  });

  it('throws one CommandError naming what failed, with the exit code and stderr', async () => {
    const err = await run('node', ['-e', 'console.error("no such port"); process.exit(3)'], { what: 'add port v-a1 to br-hv1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ name: 'CommandError', cmd: 'node', exitCode: 3, stderr: 'no such port', retryable: false });
    expect((err as Error).message).toBe('add port v-a1 to br-hv1: node exited 3: no such port');
  });

  it('reports a program that cannot start', async () => {
    const err = await run('fjord-no-such-program', []).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'CommandError', exitCode: null });
  });
});
