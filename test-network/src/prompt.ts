/**
 * The interactive prompt of `npm run testnet`: reads control commands (src/control.ts) line by
 * line from stdin, a terminal or (with `--prompt`) a pipe, and prints each answer. At a
 * terminal, readline takes the keys itself, so Ctrl-C reaches the test network as `onInterrupt`
 * rather than as a signal to every node of the terminal's process group, and Ctrl-D quits.
 */
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline'
import type { ControlResult } from './control.ts'

export const PROMPT = 'testnet> '

export interface PromptInit {
  input: NodeJS.ReadableStream & { isTTY?: boolean }
  output: NodeJS.WritableStream & { isTTY?: boolean }
  errors: NodeJS.WritableStream
  run: (line: string) => Promise<ControlResult>
  /** Ctrl-C at a terminal. */
  onInterrupt: () => void
  /** Ctrl-D at a terminal (the end of a pipe only ends the commands). */
  onEnd: () => void
}

export class ControlPrompt {
  readonly #rl: Interface
  readonly #init: PromptInit
  readonly #terminal: boolean
  #closed = false

  constructor(init: PromptInit) {
    this.#init = init
    this.#terminal = Boolean(init.input.isTTY && init.output.isTTY)
    this.#rl = createInterface({
      input: init.input,
      output: init.output,
      terminal: this.#terminal,
      prompt: PROMPT,
    })
    this.#rl.on('line', (line) => void this.#line(line))
    this.#rl.on('SIGINT', () => init.onInterrupt())
    this.#rl.on('close', () => {
      const asked = !this.#closed
      this.#closed = true
      if (asked && this.#terminal) init.onEnd()
    })
    if (this.#terminal) this.#rl.prompt()
  }

  /** Prints a line (of the test network's own) without garbling what is being typed. */
  say(stream: NodeJS.WritableStream, text: string): void {
    if (this.#closed || !this.#terminal) {
      stream.write(`${text}\n`)
      return
    }
    clearLine(this.#init.output, 0)
    cursorTo(this.#init.output, 0)
    stream.write(`${text}\n`)
    this.#rl.prompt(true)
  }

  /** Stops reading; gives the terminal back its own Ctrl-C. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#rl.close()
  }

  async #line(line: string): Promise<void> {
    if (line.trim() === '') {
      if (this.#terminal && !this.#closed) this.#rl.prompt()
      return
    }
    const result = await this.#init.run(line)
    if (result.ok) this.#init.output.write(`${result.text}\n`)
    else this.#init.errors.write(`testnet: ${result.text} [${result.code}]\n`)
    if (this.#terminal && !this.#closed) this.#rl.prompt()
  }
}
