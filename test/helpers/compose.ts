/**
 * docker-compose.yml as Compose reads it: YAML merge keys resolved, and `${VAR}`, `${VAR:-default}`
 * and `${VAR-default}` interpolated from the given variables (the shell's environment or .env).
 */
import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';

export function readCompose(file: string): Record<string, unknown> & { services: Record<string, Record<string, unknown>> } {
  return parseYaml(fs.readFileSync(file, 'utf8'), { merge: true });
}

/** `:-` takes the default when the variable is unset or empty, `-` only when it is unset; `$$` is `$`. */
export function interpolate(value: string, vars: Record<string, string | undefined> = {}): string {
  return value
    .replace(/\$\$/g, '\u0000')
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}/g, (_m, name: string, colon: string | undefined, fallback: string | undefined) => {
      const v = vars[name];
      if (fallback === undefined) return v ?? '';
      if (colon) return v ? v : fallback;
      return v === undefined ? fallback : v;
    })
    .replace(/\u0000/g, '$');
}
