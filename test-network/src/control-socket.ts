/**
 * The control socket of a running `npm run testnet`: a Unix socket in its folder through which
 * `npm run testnet -- ctl <command> --dir <folder>` (a script, another terminal) runs the
 * commands of src/control.ts. Only the owner of the socket file may connect (mode 0600).
 *
 * Exchange, one per connection: the client sends one command line (≤ 1 KiB, ended by `\n`); the
 * server answers one JSON line `{"ok":true,"text":…}` or `{"ok":false,"code":…,"text":…}` and
 * closes. A folder whose path is too long for a socket address gets its socket in the system's
 * temporary folder, named by a hash of the folder's path, so both ends find it.
 */
import { createHash } from 'node:crypto'
import { chmod, rm } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { ControlError, type ControlResult } from './control.ts'

export const CONTROL_SOCKET_FILE = 'control.sock'
/** Longest socket path used as is: sun_path holds 108 bytes on Linux, 104 on macOS, with its NUL. */
const MAX_SOCKET_PATH = 100
const MAX_LINE_BYTES = 1024
/** How long the server waits for a client's command line. */
const REQUEST_TIMEOUT_MS = 5_000
/**
 * How long `ctl` waits for an answer: a restart may take a graceful stop (SIGKILL after 15 s)
 * and a start (ready within 30 s, tried up to 3 times if its port was taken).
 */
export const DEFAULT_CONTROL_TIMEOUT_MS = 150_000

/** Where the control socket of the test network kept in `dir` is. */
export function controlSocketPath(dir: string): string {
  const inDir = join(resolve(dir), CONTROL_SOCKET_FILE)
  const hash = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 16)
  if (process.platform === 'win32') return `\\\\.\\pipe\\legation-testnet-${hash}`
  return Buffer.byteLength(inDir) <= MAX_SOCKET_PATH ? inDir : join(tmpdir(), `legation-testnet-${hash}.sock`)
}

/** Whether something answers on the socket at `path`. */
async function answers(path: string): Promise<boolean> {
  return await new Promise((done) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      done(true)
    })
    s.once('error', () => done(false))
  })
}

export interface ControlServer {
  readonly path: string
  /** Stops listening and removes the socket file (connections in progress finish). */
  close(): Promise<void>
}

/** Listens on the control socket of `dir`, running each command line with `handle`. */
export async function serveControl(
  dir: string,
  handle: (line: string) => Promise<ControlResult>,
): Promise<ControlServer> {
  const path = controlSocketPath(dir)
  if (process.platform !== 'win32') {
    // A socket file left by a test network that was killed answers nothing: take its place.
    if (await answers(path))
      throw new ControlError('IN_USE', `another test network is running in ${dir} (${path} answers)`)
    await rm(path, { force: true })
  }
  const server: Server = createServer((socket) => serveOne(socket, handle))
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(path, () => {
      server.off('error', fail)
      done()
    })
  })
  if (process.platform !== 'win32') await chmod(path, 0o600)
  return {
    path,
    close: async () => {
      await new Promise<void>((done) => server.close(() => done()))
      if (process.platform !== 'win32') await rm(path, { force: true })
    },
  }
}

function serveOne(socket: Socket, handle: (line: string) => Promise<ControlResult>): void {
  let buffered = ''
  let taken = false
  const answer = (result: ControlResult) => socket.end(`${JSON.stringify(result)}\n`)
  socket.setEncoding('utf8')
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
    if (!taken) socket.destroy()
  })
  socket.on('error', () => {}) // a client that went away: nothing to tell it
  socket.on('data', (chunk: string) => {
    if (taken) return
    buffered += chunk
    const end = buffered.indexOf('\n')
    if (end < 0 && Buffer.byteLength(buffered) <= MAX_LINE_BYTES) return
    taken = true
    socket.setTimeout(0)
    if (end < 0 || end > MAX_LINE_BYTES) {
      answer({
        ok: false,
        code: 'UNKNOWN_COMMAND',
        text: `a command line is at most ${MAX_LINE_BYTES} bytes`,
      })
      return
    }
    void handle(buffered.slice(0, end)).then(answer)
  })
}

/**
 * Sends one command line to the test network kept in `dir` and returns its answer. Throws
 * `NOT_RUNNING` if none runs there, `CONTROL_TIMEOUT` after `timeoutMs`.
 */
export async function sendControl(
  dir: string,
  line: string,
  timeoutMs: number = DEFAULT_CONTROL_TIMEOUT_MS,
): Promise<ControlResult> {
  const path = controlSocketPath(dir)
  return await new Promise<ControlResult>((done, fail) => {
    const socket = connect(path)
    let text = ''
    const timer = setTimeout(() => {
      socket.destroy()
      fail(
        new ControlError(
          'CONTROL_TIMEOUT',
          `no answer from the test network in ${dir} within ${timeoutMs / 1000} s`,
        ),
      )
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write(`${line.replaceAll('\n', ' ')}\n`))
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.once('error', (cause: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const why =
        cause.code === 'ENOENT'
          ? `no control socket at ${path}`
          : cause.code === 'ECONNREFUSED'
            ? `${path} is left from a test network that has exited`
            : `${path}: ${cause.code ?? cause.message}`
      fail(new ControlError('NOT_RUNNING', `no test network is running in ${dir} (${why})`, { cause }))
    })
    socket.once('close', () => {
      clearTimeout(timer)
      try {
        const result = JSON.parse(text) as ControlResult
        if (typeof result?.ok !== 'boolean' || typeof result.text !== 'string')
          throw new TypeError('no ok or text')
        done(result)
      } catch (cause) {
        fail(
          new ControlError('BAD_ANSWER', `the test network in ${dir} gave no answer one can read`, { cause }),
        )
      }
    })
  })
}
