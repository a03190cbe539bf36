import { createClient } from 'redis'
import { inject } from 'vitest'
import { fromIoredis, fromNodeRedis } from '../server/redis-connection.ts'
import { redisRunLog } from '../server/redis-log.ts'
import type { RunLog } from '../server/run-log.ts'

/** The test Redis's URL; throws (the test fails, never skips) when redis-server is missing. */
export function redisUrl(): string {
  const url = inject('redisUrl')
  if (!url) throw new Error(inject('redisMissing'))
  return url
}

/** A Redis run log on its own key prefix, over a node-redis 6 client (RESP3, its default). */
export async function openRedisLog(options: { retainMs?: number; prefix?: string } = {}): Promise<RunLog> {
  const client = createClient({ url: redisUrl() })
  await client.connect()
  const log = redisRunLog({ redis: fromNodeRedis(client), prefix: options.prefix ?? `t${Math.random().toString(36).slice(2, 9)}:`, retainMs: options.retainMs })
  return {
    ...log,
    async close() {
      await log.close()
      await client.close()
    },
  }
}

/** The same over ioredis 6, through `fromIoredis`. */
export async function openIoredisLog(options: { retainMs?: number } = {}): Promise<RunLog> {
  const { Redis } = await import('ioredis')
  const client = new Redis(redisUrl())
  const log = redisRunLog({ redis: fromIoredis(client), prefix: `io${Math.random().toString(36).slice(2, 9)}:`, retainMs: options.retainMs })
  return {
    ...log,
    async close() {
      await log.close()
      await client.quit()
    },
  }
}
