/**
 * The node's configuration: one TypeBox schema with defaults (config/schema.ts), loaded in one
 * place (config/load.ts) from file, environment and flags, whose names derive from the schema
 * (config/settings.ts); `--help` prints them (config/usage.ts).
 *
 * @example
 * const config = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() })
 * config.http.port // 8080
 */
export { type LoadConfigInput, loadConfig } from './config/load.ts'
export {
  type Config,
  ConfigSchema,
  DEFAULT_DATA_DIR,
  DEFAULT_FAULT_INJECTION,
  DEFAULT_HTTP_HOST,
  DEFAULT_HTTP_PORT,
  DEFAULT_LOG_LEVEL,
  DEFAULT_P2P_BOOTSTRAP,
  DEFAULT_P2P_LISTEN,
  DEFAULT_WRITE_CONCERN_TIMEOUT_MS,
  LOG_LEVELS,
  type LogLevel,
} from './config/schema.ts'
export { CONFIG_ENV, CONFIG_FLAG, ENV_PREFIX, SETTINGS, type Setting } from './config/settings.ts'
export { configUsage } from './config/usage.ts'
