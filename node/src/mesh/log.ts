/**
 * The mesh logs through the node's one structural logger interface (util/log.ts). Frame
 * contents are never logged, only sizes and peer ids.
 */
export {
  errorFields,
  noop,
  type ServiceLogger as MeshLogger,
  silentLogger,
} from '../util/log.ts'
