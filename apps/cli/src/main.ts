/**
 * lookalike: the command-line client of the Lookalike GraphQL API.
 * Results go to stdout; progress, warnings and errors to stderr. Exit code 1 on a failure.
 */
import { buildProgram } from './program.js';

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT' && e.path) return `${e.path}: no such file or folder`;
  if (e?.code === 'EACCES' && e.path) return `${e.path}: permission denied`;
  return error instanceof Error ? error.message : String(error);
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`lookalike: ${describe(error)}\n`);
  process.exitCode = 1;
}
