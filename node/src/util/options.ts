/**
 * The one check of a service's numeric options: defaults applied, each value a safe integer
 * at or above its minimum, every problem reported at once. Done in the service's factory, so a
 * node with a bad setting does not start (config/ checks the operator's file the same way,
 * earlier, with bounds of its own).
 *
 * @example
 * const o = integerOptions('replication', init, { statusIntervalMs: DEFAULT_STATUS_INTERVAL_MS })
 */
import { NodeError } from '../errors.ts'

export type IntegerDefaults<K extends string> = { readonly [P in K]: number }

/**
 * `init`'s values for the keys of `defaults`, each defaulted and checked (at least `min[key]`,
 * or 1). Throws `fail(problems)`, by default `NodeError('CONFIG_INVALID')` with one line per problem.
 */
export function integerOptions<K extends string>(
  service: string,
  init: { readonly [P in NoInfer<K>]?: number | undefined },
  defaults: IntegerDefaults<K>,
  opts: { min?: { readonly [P in NoInfer<K>]?: number }; fail?: (problems: string[]) => Error } = {},
): IntegerDefaults<K> {
  const out = {} as { [P in K]: number }
  const problems: string[] = []
  for (const key of Object.keys(defaults) as K[]) {
    const value = init[key] ?? defaults[key]
    const min = opts.min?.[key] ?? 1
    if (!Number.isSafeInteger(value) || value < min) {
      problems.push(`${service}.${key}: must be an integer of at least ${min}, got ${value}`)
    }
    out[key] = value
  }
  if (problems.length > 0) {
    throw (
      opts.fail?.(problems) ??
      new NodeError('CONFIG_INVALID', `${service} options are invalid: ${problems.join('; ')}`, {
        details: problems,
      })
    )
  }
  return Object.freeze(out)
}
