/**
 * Backups of a running node and their restore (docs/operations.md § Backup and restore): the
 * file format, the snapshot a node streams, and the offline restore into a fresh data directory.
 *
 * @example
 * import { restoreBackup } from '@legation/node/backup'
 * await restoreBackup(createReadStream('node.backup'), '/var/lib/legation/node')
 */
export {
  BACKUP_MEDIA_TYPE,
  BACKUP_VERSION,
  type BackupItem,
  type BackupManifest,
  type BackupTrailer,
  readBackup,
} from './format.ts'
export { RESTORED_CHARTER_FILE, type RestoreResult, restoreBackup } from './restore.ts'
export { DEFAULT_RESTORE_MIN_PEERS, type RestoreMark } from './restore-fence.ts'
