/**
 * The one shape every part of the node has, the js-libp2p one:
 *
 *   x(init: XInit) => (components: XComponents) => X,   X extends Startable
 *
 * `XInit` holds options (each with a `DEFAULT_*`, checked once in the factory), `XComponents`
 * what the service depends on. Services are built first, all of them, then started in order
 * and stopped in reverse: a dependency is an object a service holds, not a callback that
 * breaks a cycle, so nothing needs to exist "later".
 */
export interface Startable {
  start(): Promise<void>
  /** Once every service has started (the transports open too): work that needs the whole node up. */
  afterStart?(): void | Promise<void>
  /** Before any service stops (the transports still open): stop making new work. */
  beforeStop?(): void | Promise<void>
  /** Stops and waits until the service holds nothing open. */
  stop(): Promise<void>
}

export interface NamedService {
  readonly name: string
  readonly service: Startable
}

interface StartLogger {
  debug(obj: Record<string, unknown>, msg?: string): void
  error(obj: Record<string, unknown>, msg?: string): void
}

/**
 * Starts the services in order, then calls their `afterStart` in order. If one fails to start,
 * those started are stopped in reverse order and the failure is thrown. Answers a function
 * that calls every `beforeStop` in reverse order, then stops them all in reverse order, going
 * on past a service whose stop fails (and throwing the first such failure at the end).
 */
export async function startServices(
  services: readonly NamedService[],
  log?: StartLogger,
): Promise<() => Promise<void>> {
  const started: NamedService[] = []
  const stopAll = async () => {
    let failure: unknown
    const stopping = started.splice(0).reverse()
    for (const s of stopping) {
      try {
        await s.service.beforeStop?.()
      } catch (err) {
        log?.error({ service: s.name, err }, 'service failed to prepare to stop')
        failure ??= err
      }
    }
    for (const s of stopping) {
      try {
        await s.service.stop()
        log?.debug({ service: s.name }, 'service stopped')
      } catch (err) {
        log?.error({ service: s.name, err }, 'service failed to stop')
        failure ??= err
      }
    }
    if (failure !== undefined) throw failure
  }
  for (const s of services) {
    try {
      await s.service.start()
      log?.debug({ service: s.name }, 'service started')
    } catch (err) {
      await stopAll().catch(() => undefined)
      throw err
    }
    started.push(s)
  }
  try {
    for (const s of services) await s.service.afterStart?.()
  } catch (err) {
    await stopAll().catch(() => undefined)
    throw err
  }
  return stopAll
}
