import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startService } from './processes.js';

describe('startService', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A log file as a restarted service finds it: its predecessor's lines, ready text included. */
  function staleLog(): string {
    const dir = mkdtempSync(join(tmpdir(), 'fjord-processes-test-'));
    dirs.push(dir);
    const logFile = join(dir, 'service.log');
    writeFileSync(logFile, 'predecessor: service ready\n');
    return logFile;
  }

  it('waits for the ready text from this process, not from an earlier one in the same log', async () => {
    const logFile = staleLog();
    // `fjordctl --help` prints its usage and exits without ever saying "service ready".
    const started = startService({ name: 'help', entry: 'services/cli/src/main.ts', args: ['--help'], logFile, readyText: 'service ready' });
    const err = await started.then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/^help exited with code 0 while starting:/);
    // Only this process's lines, not its predecessor's, in the message; the log keeps both.
    expect(err?.message).toContain('display help for command');
    expect(err?.message).not.toContain('predecessor');
    expect(readFileSync(logFile, 'utf8')).toMatch(/^predecessor: service ready\n[\s\S]*Usage: fjordctl/);
  }, 30_000);

  it('is ready once this process writes the ready text', async () => {
    const logFile = staleLog();
    const service = await startService({ name: 'help', entry: 'services/cli/src/main.ts', args: ['--help'], logFile, readyText: 'Usage: fjordctl' });
    expect(service.tail(1000)).toContain('Usage: fjordctl');
    expect(service.tail(1000)).not.toContain('predecessor');
    await service.stop();
  }, 30_000);
});
