import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

  describe('with background processes that inherit its output pipes', () => {
    let dir: string;
    let pidFile: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'fj-exec-'));
      pidFile = join(dir, 'pid');
    });
    afterEach(async () => {
      // Never leave a stray sleep behind, whether or not the test passed.
      const pid = await backgroundPid().catch(() => undefined);
      if (pid !== undefined && isRunning(pid)) process.kill(pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    const backgroundPid = async (): Promise<number> => Number((await readFile(pidFile, 'utf8')).trim());
    // A killed orphan may stay a zombie until init reaps it (slowly, in some containers), and
    // kill(pid, 0) still finds zombies; so read its state (Linux, like the worker's hosts).
    const isRunning = (pid: number): boolean => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw e;
      }
    };

    it('on timeout, kills what the command started and rejects', { timeout: 10_000 }, async () => {
      const started = Date.now();
      const err = await run('sh', ['-c', 'sleep 30 & echo $! > "$1"; sleep 30', 'sh', pidFile], { timeoutMs: 300, what: 'create ct-a1' }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(err).toBeInstanceOf(CommandError);
      expect(err).toMatchObject({ cmd: 'sh', exitCode: null, stderr: 'timed out after 300 ms' });
      expect((err as Error).message).toBe('create ct-a1: sh did not exit normally: timed out after 300 ms');

      const pid = await backgroundPid();
      for (let i = 0; i < 20 && isRunning(pid); i++) await sleep(50);
      expect(isRunning(pid)).toBe(false);
    });

    it('returns once the command exits, without waiting for them', { timeout: 10_000 }, async () => {
      const started = Date.now();
      const r = await run('sh', ['-c', 'echo hi; sleep 30 & echo $! > "$1"', 'sh', pidFile]);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(r).toEqual({ stdout: 'hi\n', stderr: '', exitCode: 0 });
      // The sleep that holds stdout is still there: the command's exit alone ended the wait.
      expect(isRunning(await backgroundPid())).toBe(true);
    });
  });
});
