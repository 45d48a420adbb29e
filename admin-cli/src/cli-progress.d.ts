// Just what the CLI uses of cli-progress 3 (the package ships no types; @types/cli-progress is
// not a dependency of the workspace).
declare module 'cli-progress' {
  interface BarOptions {
    format?: string
    stream?: { write(chunk: string): unknown }
    hideCursor?: boolean
    clearOnComplete?: boolean
    stopOnComplete?: boolean
    barsize?: number
    fps?: number
  }
  interface Preset {
    barCompleteChar: string
    barIncompleteChar: string
    format?: string
  }
  class SingleBar {
    constructor(options: BarOptions, preset?: Preset)
    start(total: number, startValue: number, payload?: Record<string, unknown>): void
    update(value: number, payload?: Record<string, unknown>): void
    increment(step?: number, payload?: Record<string, unknown>): void
    stop(): void
  }
  const Presets: { shades_classic: Preset; shades_grey: Preset; legacy: Preset; rect: Preset }
  const cliProgress: { SingleBar: typeof SingleBar; Presets: typeof Presets }
  export default cliProgress
  export type { BarOptions, Preset, SingleBar }
}
