/**
 * POST /v1/node/backup: a consistent snapshot of this running node (backup/format.ts), streamed
 * while writes go on. Only the node's operator may take one: the request is signed with the
 * node's own key, the key file the node runs with (`legation backup --key-file`). The backup
 * holds no key in plain form: payloads stay sealed, and the key ring is sealed under the node key.
 */
import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { BACKUP_MEDIA_TYPE } from '../../backup/format.ts'
import { NodeError } from '../../errors.ts'
import { requireOperator } from '../auth.ts'
import type { HttpContext } from '../context.ts'
import { problemResponses } from '../problem.ts'
import { SIGNATURE_REQUIRED } from '../security.ts'

export const backupRoutes: FastifyPluginAsyncTypebox<{ ctx: HttpContext }> = async (app, { ctx }) => {
  app.post(
    '/v1/node/backup',
    {
      schema: {
        summary: "A consistent online backup of this node's store and key ring (the node's operator only)",
        description:
          'Signed with the node key. The body is the backup file (docs/operations.md § Backup and restore): a manifest, the sealed key ring, the store, and a trailer with counts and a SHA-256 checksum. A stream cut short has no trailer.',
        tags: ['operations'],
        security: SIGNATURE_REQUIRED,
        response: {
          200: {
            description: 'The backup file',
            content: { [BACKUP_MEDIA_TYPE]: { schema: Type.String({ format: 'binary' }) } },
          },
          ...problemResponses(401, 403, 404, 429, 500, 503),
        },
      },
    },
    async (req, reply) => {
      requireOperator(req.principal, ctx.engine.nodeId)
      if (!ctx.backup) throw new NodeError('NOT_FOUND', 'this node cannot take backups')
      const stream = ctx.backup()[Symbol.asyncIterator]()
      // The snapshot is opened before the answer starts: a failure to take one is still a problem answer.
      const first = await stream.next()
      const log = req.log
      async function* bytes() {
        try {
          if (!first.done) yield first.value
          for (let next = await stream.next(); !next.done; next = await stream.next()) yield next.value
        } catch (err) {
          log.error({ err }, 'backup stream failed: the client gets a backup without a trailer')
          throw err
        } finally {
          await stream.return?.(undefined)
        }
      }
      const at = new Date().toISOString().replace(/[:.]/g, '-')
      reply
        .type(BACKUP_MEDIA_TYPE)
        .header(
          'content-disposition',
          `attachment; filename="legation-${ctx.engine.nodeId.slice(0, 12)}-${at}.backup"`,
        )
        .header('cache-control', 'no-store')
      // A stream, not the string the schema describes for OpenAPI: fastify pipes it as it comes.
      return reply.send(Readable.from(bytes(), { objectMode: false }) as unknown as string)
    },
  )
}
