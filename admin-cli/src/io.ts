/**
 * What a command may touch besides files: its output streams, the network, the environment
 * and the clock. `main()` passes the process's; tests pass their own and read what was written.
 */

export interface Output {
  write(chunk: string): unknown
  /** True when a person is watching: progress bars instead of plain lines. */
  readonly isTTY?: boolean | undefined
}

export interface CliIo {
  stdout: Output
  stderr: Output
  fetch: typeof globalThis.fetch
  env: Readonly<Record<string, string | undefined>>
  /** Milliseconds since the epoch: record times, request signatures and rates. */
  now: () => number
}

/** The process's own streams, network, environment and clock. */
export function processIo(): CliIo {
  exitQuietlyOnEpipe(process.stdout)
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    fetch: globalThis.fetch,
    env: process.env,
    now: Date.now,
  }
}

/** Writes one line. */
export function println(out: Output, line = ''): void {
  out.write(`${line}\n`)
}

/**
 * `legation status | head`: once the reader has gone, a write fails with EPIPE, emitted as an
 * 'error' event that would otherwise kill the process with a stack trace. Nobody is left to
 * read the rest, so the command ends there, quietly. Any other stream error still throws.
 */
export function exitQuietlyOnEpipe(
  stream: Pick<NodeJS.EventEmitter, 'on'>,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return exit(0)
    throw err
  })
}
