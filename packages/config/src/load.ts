import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/** Where configuration comes from: an optional JSON file, then environment variables on top. */
export interface ConfigSources {
  file?: string | undefined;
  env?: Record<string, string | undefined>;
}

/**
 * Reads, merges and validates a configuration. Throws one ConfigError listing every invalid key,
 * so an operator fixes a config file in one pass rather than one error at a time.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  envMap: Readonly<Record<string, string>>,
  sources: ConfigSources,
): z.infer<S> {
  const raw: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      throw new ConfigError([`config file ${sources.file}: ${(err as Error).message}`]);
    }
    try {
      Object.assign(raw, JSON.parse(text));
    } catch (err) {
      throw new ConfigError([`config file ${sources.file}: not valid JSON: ${(err as Error).message}`]);
    }
  }
  // An error about a key an environment variable set names the variable: the file may say otherwise.
  const fromEnv = new Map<string, string>();
  for (const [variable, key] of Object.entries(envMap)) {
    const value = sources.env?.[variable];
    if (value === undefined || value === '') continue;
    raw[key] = value;
    fromEnv.set(key, variable); // not its value: it may hold a password (DATABASE_URL)
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const source = fromEnv.get(String(issue.path[0]));
        return `${issue.path.join('.') || '(root)'}: ${issue.message}${source ? ` (from ${source})` : ''}`;
      }),
    );
  }
  return result.data;
}
