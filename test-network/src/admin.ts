/** The `legation` admin CLI run in this process, for tests: its exit code, stdout and stderr. */
import { run } from '@legation/admin-cli'

export async function legation(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    fetch: globalThis.fetch,
    env: {},
    now: Date.now,
  })
  return { code, stdout, stderr }
}
