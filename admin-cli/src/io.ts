/**
 * What a command may touch besides files: its output streams, the network, the environment
 * and the clock. `main()` passes the process's; tests pass their own and read what was written.
 */
import cliProgress from 'cli-progress'

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

/**
 * A cli-progress bar on `io.stderr` in `format` (its `{…}` tokens: the bar's own and the
 * payload's), started at the first update: the caller checks `io.stderr.isTTY` first.
 */
export function progressBar<P extends object>(io: CliIo, format: string) {
  const bar = new cliProgress.SingleBar(
    {
      format,
      // cli-progress only writes to it (and reads isTTY/columns): an Output is enough.
      stream: io.stderr as NodeJS.WritableStream,
      hideCursor: false,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  )
  let started = false
  return {
    update(done: number, total: number, payload?: P) {
      if (!started) {
        bar.start(total, done, payload)
        started = true
      } else bar.update(done, payload)
    },
    stop() {
      if (started) bar.stop()
    },
  }
}
