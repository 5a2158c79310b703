/**
 * A Dockerfile read as the builder reads it: comment lines dropped (also inside continued lines),
 * continuations joined, global ARGs (before the first FROM) expanded in FROM, one entry per stage.
 * Shared by the offline checks (infra.test.ts) and the rehearsal that runs the steps
 * (helpers/docker-rehearsal.ts).
 */
import fs from 'node:fs';

export interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  name?: string;
  base: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Global ARGs and their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

export function parseDockerfile(file: string): Dockerfile {
  const lines: string[] = [];
  let pending = '';
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    lines.push(pending + line);
    pending = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    if (op === 'FROM') {
      const parts = rest.split(/\s+/).filter((p) => !p.startsWith('--'));
      stages.push({ base: expandVariables(parts[0], args), name: /^as$/i.test(parts[1] ?? '') ? parts[2] : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (op === 'ARG') {
        const [k, ...v] = rest.split('=');
        args[k] = v.join('=');
      }
    } else stages[stages.length - 1].instructions.push({ op, args: rest });
  }
  return { args, stages };
}

/** `$NAME` and `${NAME}` replaced from `vars`; names it does not know are left as written. */
export function expandVariables(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, n: string) => vars[n] ?? m);
}

/** `ENV A=1 B="two words"`: the pairs, quotes removed (the legacy `ENV A 1` form too). */
export function parseKeyValues(s: string): Array<[string, string]> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(s)) {
    const [k, ...v] = s.split(/\s+/);
    return [[k, v.join(' ')]];
  }
  const pairs: Array<[string, string]> = [];
  for (const m of s.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) {
    const raw = m[2];
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw.startsWith("'") ? raw.slice(1, -1) : raw;
    pairs.push([m[1], value]);
  }
  return pairs;
}
