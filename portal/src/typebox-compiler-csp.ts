/**
 * `@sinclair/typebox/compiler` for the browser, without code generation. TypeBox's compiler
 * builds each checker with `new Function`, which the portal's Content-Security-Policy refuses
 * (no 'unsafe-eval'). The portal's build maps that import here (vite.config.ts): the same
 * `Check` and `Errors`, by TypeBox's interpreting `Value` module. Slower per call, but a citizen's
 * browser checks a handful of records; the node keeps the compiled checkers.
 */
import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export const TypeCompiler = {
  Compile<T extends TSchema>(schema: T) {
    return {
      Check: (value: unknown): boolean => Value.Check(schema, value),
      Errors: (value: unknown) => Value.Errors(schema, value),
    }
  },
}
