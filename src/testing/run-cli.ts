/** Run the `llamats` CLI as a user does (test-only): the built main.js, or main.ts through tsx from source. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fromSource = import.meta.url.endsWith('.ts');
const main = fileURLToPath(new URL(fromSource ? '../cli/main.ts' : '../cli/main.js', import.meta.url));

export function llamats(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return llamatsWithEnv({}, ...args);
}

/** `llamats` with variables added to its environment. */
export function llamatsWithEnv(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), main, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
