/** The `--help` table: every flag with its meaning, default and environment variable. */
import { CONFIG_ENV, CONFIG_FLAG, SETTINGS } from './settings.ts'

/** The flags and environment variables, one per line, for `--help`. */
export function configUsage(): string {
  const rows: [string, string][] = [[`--${CONFIG_FLAG} <file>`, `JSON config file (env ${CONFIG_ENV})`]]
  for (const s of SETTINGS) {
    const flag = !s.flag
      ? '(no flag)'
      : s.type === 'boolean'
        ? `--[no-]${s.flag}`
        : `--${s.flag} <${s.type === 'string[]' ? 'a,b,…' : 'value'}>`
    const def = s.schema.default === undefined ? '' : ` [default: ${JSON.stringify(s.schema.default)}]`
    rows.push([flag, `${s.description}${def} (env ${s.env})`])
  }
  const width = Math.max(...rows.map(([f]) => f.length))
  return rows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`).join('\n')
}
